"""One error hierarchy for the whole toolkit.

The CLI turns every ``UnetEdgeError`` into a single line on stderr with exit code 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UnetEdgeError(Exception):
    """Base class of every error a user can cause and fix."""


class DataError(UnetEdgeError):
    """A dataset is missing, malformed or inconsistent (names the file)."""


class CheckpointError(UnetEdgeError):
    """A checkpoint is missing, corrupt or was written for something else."""


class ModelError(UnetEdgeError):
    """An unknown architecture or invalid model options."""


class MissingDependencyError(UnetEdgeError):
    """An optional package is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str, why: str = "") -> None:
        hint = f"pip install 'unet-edge[{extra}]'"
        reason = f" ({why})" if why else ""
        super().__init__(f"{package} is not installed{reason}; install it with: {hint}")
        self.package = package
        self.extra = extra


class ExportError(UnetEdgeError):
    """Export, verification or artifact loading failed."""


class EngineError(UnetEdgeError):
    """A TensorRT engine cannot be built or loaded here."""


class SourceError(UnetEdgeError):
    """A video source cannot be opened or read."""


class ConfigError(UnetEdgeError):
    """Invalid command-line or configuration values."""
