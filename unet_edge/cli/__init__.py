"""The ``unet-edge`` command line. Heavy packages are imported inside the commands that need them."""

from __future__ import annotations

import sys

from unet_edge.core.errors import UnetEdgeError


def one_line(exc: BaseException) -> str:
    """The user-facing line of an error; errors re-raised by DataLoader workers carry a traceback."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else type(exc).__name__
    prefix = f"{type(exc).__module__}.{type(exc).__name__}: "
    return line[len(prefix):] if line.startswith(prefix) else line


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the typer app, turning UnetEdgeError into one line and exit code 1."""
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # errors are reported in one line of ours
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # not GStreamer's "cannot query duration" of every stream
    from unet_edge.core.opencv import import_cv2

    try:
        import_cv2()  # before the commands import it: a system cv2 under another numpy is one line with its repair
        from unet_edge.cli.app import app

        code = app(args=argv, prog_name="unet-edge", standalone_mode=False)
    except UnetEdgeError as exc:
        print(f"unet-edge: error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("unet-edge: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        # A value typer/click cannot parse (--segment abc, an unknown option): one line too, exit 2 as click's.
        print(f"unet-edge: error: {one_line_usage(exc)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: BaseException) -> bool:
    """click's UsageError (typer may vendor click, so match the class by name, not by import)."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__) and hasattr(exc, "format_message")


def one_line_usage(exc) -> str:
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", "") if ctx is not None else ""
    hint = f" (see '{command} --help')" if command else ""
    return msg + hint
