"""The rows of the bad-input matrix, read from the tables of ``rows.md``: a command a user might
type wrongly, the fragment its one-line error must hold, the setup that lays out more files, and
the exit code where it is not just "non-zero". The placeholders are ``rows.md``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("id", "command", "the error holds", "setup", "exit")


@dataclass(frozen=True)
class Row:
    id: str
    argv: tuple[str, ...]
    fragment: str  # case-insensitive, in the single error line
    setup: Callable[[Path], None] | None = None  # more fixtures, written under the row's folder
    code: int | None = None  # the exit code; None: any non-zero


def _cell(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == "`" else text


def load_rows(path: Path) -> list[Row]:
    """Every table row of ``path`` (a markdown file whose tables have :data:`COLUMNS`)."""
    from tests.matrix import setups

    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.startswith("| ") or line.startswith(("| id |", "|---")):
            continue
        cells = [_cell(c) for c in line.strip()[1:-1].split("|")]
        if len(cells) != len(COLUMNS):
            raise ValueError(f"{path.name}:{n}: {len(cells)} cells, expected {len(COLUMNS)} ({', '.join(COLUMNS)})")
        rid, command, fragment, setup, code = cells
        rows.append(Row(rid, tuple(command.split()), fragment, getattr(setups, setup) if setup else None,
                        int(code) if code else None))
    return rows
