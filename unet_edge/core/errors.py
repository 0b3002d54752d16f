"""One error hierarchy for the whole toolkit.

The CLI turns every ``UnetEdgeError`` into a single line on stderr with exit code 1;
anything else is a bug and keeps its traceback. Raise the subclass that says where it
happened; the base class is never raised itself.
"""

from __future__ import annotations


class UnetEdgeError(Exception):
    """Base class of every error a user can cause and fix. Its message is one line by construction:
    a value the user typed with a line break in it is shown escaped, and an error that a DataLoader
    worker re-raises with its traceback keeps the traceback's last line, the error itself."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (_one_line(args[0]), *args[1:])
        super().__init__(*args)


def _one_line(message: str) -> str:
    if "Traceback" in message:  # torch: "Caught X in DataLoader worker ...\nOriginal Traceback (...):\n..."
        lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
        message = lines[-1] if lines else message
    return message.replace("\r", "\\r").replace("\n", "\\n")


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


class BrokenInstallError(UnetEdgeError):
    """An installed package does not import here (a system cv2 under a numpy it was not built for): ``problem``
    says what, ``repair`` the command that fixes it."""

    def __init__(self, problem: str, repair: str = "") -> None:
        super().__init__(f"{problem}; repair: {repair}" if repair else problem)
        self.problem, self.repair = problem, repair


class ExportError(UnetEdgeError):
    """Export, quantization or verification failed."""


class GateMissed(ExportError):
    """An artifact missed its precision's gate; ``precision`` is that artifact's (fp32, fp16, int8)."""

    def __init__(self, message: str, precision: str) -> None:
        super().__init__(message)
        self.precision = precision


class Int8Rejected(ExportError):
    """INT8 missed the precision gate's criterion: the best graph found was kept at ``path`` (a
    ``.rejected.onnx``, with its sidecar), ``measured`` is what its stage measured, for its report."""

    def __init__(self, message: str, path, measured: dict) -> None:
        super().__init__(message)
        self.path, self.measured = path, measured


class ArtifactError(UnetEdgeError):
    """An exported model or its sidecar is missing, corrupt, mismatched or from a newer format."""


class EngineError(UnetEdgeError):
    """A TensorRT engine cannot be built or loaded here."""


class RunnerError(UnetEdgeError):
    """A runner was used outside its contract (not activated, activated twice) or failed to run."""


class SourceError(UnetEdgeError):
    """A video source cannot be opened or read."""


class SinkError(UnetEdgeError):
    """An output (video file, window, live-view server) cannot be opened or written."""


class ConfigError(UnetEdgeError):
    """Invalid command-line or configuration values."""


class BenchError(UnetEdgeError):
    """A benchmark backend cannot run here (the reason is shown in the bench table)."""
