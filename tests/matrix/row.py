"""One row of the bad-input matrix: a command a user might type wrongly, the fragment its one-line
error must hold, and how to set up the files it must leave as they were.

``argv`` may name fixtures that the matrix lays out in the row's own folder before it runs:

- ``{tmp}``: the row's folder; every input and output of a row lies in it;
- ``{model}``: the tiny fixed-size ONNX model (``{tmp}/model/tiny.onnx`` and its sidecar);
- ``{dyn}``: the tiny ONNX model with dynamic batch, height and width (``{tmp}/dyn/tiny.onnx``);
- ``{frames}``: a folder of 4 PNG frames (``{tmp}/frames``);
- ``{clip}``: a 10-frame MP4 (``{tmp}/clip.mp4``);
- ``{run}``: a trained run folder with ``best.pt`` and its verified export ``best.onnx`` (torch; slow
  the first time in a session: it shares the session's trained model).

Every file and folder in ``{tmp}`` before the command must be there, byte-identical, after it, and
nothing may be added: no input changed, no partial output left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    id: str
    argv: tuple[str, ...]
    fragment: str  # case-insensitive, in the single error line
    setup: Callable[[Path], None] | None = None  # more fixtures, written under the row's folder
    code: int | None = None  # the exit code; None: any non-zero
    allow_new: tuple[str, ...] = ()  # globs (relative to {tmp}) of paths the command may create
    marks: tuple[str, ...] = ()  # pytest marks by name, e.g. ("slow",)


def row(id: str, command: str, fragment: str, **kw) -> Row:
    """A row from a shell-like command line (split on spaces; no quoting)."""
    return Row(id, tuple(command.split()), fragment, **kw)
