"""The errors of the model layer.

``models`` sits below ``camera`` and imports nothing from it; the ``facecam``
command reports these the way it reports :class:`camera.errors.FacecamError`
(one line, exit status 2).
"""


class ModelLoadError(Exception):
    """A model file or runtime is missing, corrupt, of the wrong kind, or fails its sha256."""
