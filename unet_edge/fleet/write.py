"""The write stage of ``label``: each frame's class map (and confidence map) as ``run --save-masks`` writes
them, with the same code (``runtime/masks.py``): a palette PNG at the source frame's size, written
atomically, named as ``run`` names it, and its ``index.jsonl`` line. The lines go back to the driver,
which writes each video's index once, whole and in order (``resume.finish_video``).

A recorded video has no capture clock and a batch job no per-frame latency worth the name: a line's
``capture_time`` and ``latency_ms`` are null, so that two runs write the same bytes; the summary has
each video's wall time and rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.errors import SinkError
from unet_edge.fleet.decode import END
from unet_edge.runtime.masks import at_frame_size, class_counts, index_line, write_maps

PASSED_ON = ("video", "index", "last", "frames", "failure", "t_start", "actor")


def write_batch(batch: dict, out: str, classes: Sequence[str], palette: Sequence[Sequence[int]]) -> dict:
    """Ray Data's write stage: the PNGs of every frame row of ``batch``; returns each row's index line, class
    pixel counts and pixel total (an end row passes through with an empty line)."""
    n = len(batch["index"])
    lines, pixels = [""] * n, np.zeros(n, np.int64)
    counts = np.zeros((n, len(classes)), np.int64)
    conf_column = batch.get("conf")
    made: set[Path] = set()
    for i in range(n):
        index = int(batch["index"][i])
        if index == END:
            continue
        folder = Path(out) / str(batch["video"][i])
        h, w = int(batch["h"][i]), int(batch["w"][i])
        conf = None if conf_column is None else np.asarray(conf_column[i])
        mask, conf = at_frame_size(np.asarray(batch["mask"][i]), conf, h, w)
        try:
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            files = write_maps(folder, str(batch["name"][i]), mask, conf, palette)
        except OSError as exc:
            raise SinkError(f"--out {out}: cannot write {folder.name}'s class maps ({exc.strerror or exc}); the "
                            "videos finished before are kept") from exc
        counts[i] = class_counts(mask, len(classes))
        pixels[i] = mask.size
        ms = float(batch["source_ms"][i])
        lines[i] = index_line(0, index, files[0].name, None if np.isnan(ms) else ms, None, None, 0, classes,
                              counts[i], mask.size)
    result = {k: batch[k] for k in PASSED_ON}
    result.update(line=np.array(lines, dtype=object), counts=counts, pixels=pixels)
    return result
