"""``synth://``: the synthetic dashcam as a live camera, for machines that have none.

Declared as the ``synth`` entry point of the ``unet_edge.sources`` group, so the runtime finds it
without importing this package. Options go in the query: ``synth://?seed=3&size=240x320``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np

from unet_edge.core.errors import SourceError
from unet_edge.core.parse import parse_size
from unet_edge.runtime.sources import Source


class SynthSource(Source):
    """Frames of a drive through one procedural street, rendered as they are read. The drive is
    ``frames`` long and then starts over: a longer street would cost every frame more to render."""

    live = True

    def __init__(self, size: tuple[int, int] = (360, 480), seed: int = 0, frames: int = 1800,
                 name: str = "synth://") -> None:
        self.size, self.seed, self.frames, self.name = size, seed, frames, name

    def open(self) -> None:
        from unet_edge.synth import drive

        self.it = drive(self.seed, self.size, self.frames, self.fps)

    def read(self) -> tuple[bool, np.ndarray | None]:
        item = next(self.it, None)
        if item is None:
            self.open()
            item = next(self.it)
        return True, item[0]


def open_synth(uri: str) -> SynthSource:
    """``synth://[?seed=N&size=HxW&frames=N]`` -> SynthSource (``frames``: the drive's length before it repeats)."""
    query = parse_qs(urlsplit(uri).query)
    unknown = sorted(set(query) - {"seed", "size", "frames"})
    if unknown:
        raise SourceError(f"{uri}: unknown synth:// option(s) {', '.join(unknown)}; use seed, size, frames")
    try:
        seed = int(query.get("seed", ["0"])[0])
        frames = int(query.get("frames", ["1800"])[0])
    except ValueError as exc:
        raise SourceError(f"{uri}: seed and frames must be whole numbers") from exc
    size = parse_size(query["size"][0]) if "size" in query else (360, 480)
    return SynthSource(size, seed, frames, uri)
