"""``unet-edge ARGS`` run in the test's own process, as a user's shell would see it."""

from __future__ import annotations

import contextlib
import io

import pytest

from unet_edge.cli import main


def cli(*args: str) -> tuple[int, str, str]:
    """``unet-edge ARGS`` in this process: (exit code, stdout, stderr's last line)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main(list(args))
    lines = err.getvalue().strip().splitlines()
    return exc.value.code, out.getvalue(), lines[-1] if lines else ""
