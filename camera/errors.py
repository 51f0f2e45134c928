"""Specific exceptions, each with a message that says what to fix.

Every error facecam raises on purpose derives from :class:`FacecamError`, or,
from the model layer below the package, is a
:class:`~models.errors.ModelLoadError`; the CLI prints either on one line
(:data:`USER_ERRORS`) and exits non-zero.
"""

from models.errors import ModelLoadError

__all__ = ["USER_ERRORS", "AlertDeliveryError", "CameraUnavailable", "ConfigError", "FacecamError", "GalleryError",
           "InvalidImage", "ModelLoadError", "NoFaceFound", "NotFound", "SeveralFacesFound"]


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


class ConfigError(FacecamError):
    """The configuration file is unreadable or has an invalid key or value."""


class GalleryError(FacecamError):
    """The gallery database refused an operation (unknown person, name taken)."""


class NotFound(FacecamError):
    """What was asked for (an event, a person, a photo) does not exist (the web API answers 404)."""


class AlertDeliveryError(FacecamError):
    """An alert sink could not deliver an alert after its retries."""


#: what the ``facecam`` command reports as one line ``facecam: error: ...`` (exit status 2)
USER_ERRORS: tuple[type[Exception], ...] = (FacecamError, ModelLoadError)
