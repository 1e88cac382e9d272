"""One exception tree: every error camapp raises is a CamappError and also the matching built-in."""

from __future__ import annotations


class CamappError(Exception):
    """Base of every camapp error."""


class ConfigError(CamappError, ValueError):
    """The configuration is invalid; the message names each bad field."""


class InputError(CamappError, ValueError):
    """A file given to a command (an image, a video) is not usable; like a bad config, retrying cannot help."""


class ModelError(CamappError, RuntimeError):
    """A model file is missing, corrupt, or its outputs are not understood."""


class ChecksumError(ModelError):
    """A downloaded or shipped file does not match its recorded sha256."""


class DetectorUnavailableError(ModelError, ImportError):
    """No TFLite runtime (ai-edge-litert or tflite-runtime) is installed."""


class CaptureError(CamappError, IOError):
    """A frame source could not be opened or stopped delivering frames."""


class CaptureEndedError(CaptureError, EOFError):
    """A finite source (a video file without loop) has no more frames."""


class StorageError(CamappError, OSError):
    """The local event store could not read or write."""


class GPIOError(CamappError, RuntimeError):
    """A GPIO device could not be set up or driven."""


class CommandError(CamappError, ValueError):
    """A remote command (MQTT or API) was malformed or not allowed."""


class AuthError(CamappError, PermissionError):
    """Authentication or authorisation failed."""


class ModelTrustError(AuthError, ModelError):
    """A model is refused by the signature policy (web.require_signed_models) or carries a bad signature."""
