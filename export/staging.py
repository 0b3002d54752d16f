"""A run's outputs written aside, and put in place only when the run has passed.

Export and ``build`` write every file (artifacts, sidecars, reports, the INT8 stage's scratch) into a
hidden folder inside the output folder, on the same file system, so that each file then replaces its
earlier version by one ``os.replace``. A run that fails discards the folder: the earlier artifacts,
their sidecars and reports stay byte-identical, and nothing new is left. A folder of that name left
by a killed run is never reused (each run makes its own).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

PREFIX = ".unet-edge-staging-"


class Staging:
    """Files for ``out`` written under :attr:`dir` first; :meth:`publish` moves them over their final
    names, :meth:`discard` (also on leaving the ``with`` block) removes what was not published, and the
    output folders this run created."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self._created: list[Path] = []  # the output folders made for this run, innermost first
        self._dir: Path | None = None

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_exc) -> None:
        self.discard()

    @property
    def dir(self) -> Path:
        """The staging folder, made on first use: the first write of the run."""
        if self._dir is None:
            missing = []
            for folder in (self.out, *self.out.parents):
                if folder.exists():
                    break
                missing.append(folder)
            self.out.mkdir(parents=True, exist_ok=True)
            self._created = missing
            self._dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.out))
        return self._dir

    def final(self, staged: Path) -> Path:
        """The path a staged file takes when published (an unstaged path is returned as it is)."""
        staged = Path(staged)
        if self._dir is None or self._dir not in staged.parents:
            return staged
        return self.out / staged.relative_to(self._dir)

    def shown(self, text: str) -> str:
        """``text`` with every staged path named as it will be published: what a log line tells the user."""
        return text if self._dir is None else text.replace(str(self._dir), str(self.out))

    def publish(self, keep: Callable[[Path], bool] = lambda _p: True) -> list[Path]:
        """Move the staged files that ``keep`` accepts over their final names (sidecars and reports before
        their artifact, so that a reader never finds a new artifact beside an old sidecar for long);
        returns the final paths. Folders and the others are discarded."""
        if self._dir is None:
            return []
        files = sorted((p for p in self._dir.rglob("*") if p.is_file() and keep(p)),
                       key=lambda p: (not p.name.endswith(".json"), str(p)))
        moved = []
        for staged in files:
            dest = self.final(staged)
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged.replace(dest)
            moved.append(dest)
        self._created = []  # they hold published files now
        self.discard()
        return moved

    def discard(self) -> None:
        """Remove the staging folder and the output folders made for this run that stayed empty."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:  # not empty: something else wrote there meanwhile
                break
        self._created = []
