"""Specific exceptions, each with a message that says what to fix.

Every error facecam raises on purpose derives from :class:`FacecamError`; the
CLI prints its message on one line and exits non-zero.
"""


class FacecamError(Exception):
    """Base class: a problem the user can fix, described in the message."""


class InvalidImage(FacecamError):
    """An image file is missing, empty, truncated, not an image, or too large."""


class NoFaceFound(FacecamError):
    """A photo that should show exactly one face shows none."""


class SeveralFacesFound(FacecamError):
    """A photo that should show exactly one face shows more than one."""


class CameraUnavailable(FacecamError):
    """A frame source cannot be opened or has stopped delivering frames."""


class ModelLoadError(FacecamError):
    """A model file or runtime is missing, corrupt, or of the wrong kind."""


class ConfigError(FacecamError):
    """The configuration file is unreadable or has an invalid key or value."""


class GalleryError(FacecamError):
    """The gallery database refused an operation (unknown person, name taken)."""


class AlertDeliveryError(FacecamError):
    """An alert sink could not deliver an alert after its retries."""
