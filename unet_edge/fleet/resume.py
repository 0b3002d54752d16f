"""What ``label --out`` holds, and how a rerun resumes it: torch-free and Ray-free.

- ``OUT/label.json``: what the labels were made with (the model's sha256, --every, --size); a rerun
  with other settings is refused, so one folder never mixes two models' labels;
- ``OUT/<video>/``: its class-map PNGs (each written atomically by a write task), then ``index.jsonl``
  written once, atomically, with every frame in order, then ``done.json`` (atomic): the video's summary
  row less its timing, and the sha256 of its index.

A video is done when its ``done.json`` names the index that is there. A rerun skips done videos and
labels the others again from their first frame: their PNGs are replaced by the same bytes, their index
written anew, so no line ever appears twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.core.io import write_bytes_atomic, write_json_atomic
from unet_edge.fleet.sources import Job
from unet_edge.runtime.masks import INDEX

STAMP = "label.json"
MARKER = "done.json"
SAME = ("model_sha256", "every", "size")  # the settings that change a video's labels


def stamp(model: Path, model_sha256: str, every: int, size: tuple[int, int] | None, classes: list[str]) -> dict:
    """``OUT/label.json``'s content for this run."""
    return {"tool": "unet-edge label", "model": model.name, "model_sha256": model_sha256, "every": every,
            "size": list(size) if size else None, "classes": list(classes)}


def _settings(s: dict) -> str:
    return f"{s.get('model')} (sha256 {str(s.get('model_sha256'))[:12]}), --every {s.get('every')}" + (
        f", --size {s['size'][0]}x{s['size'][1]}" if s.get("size") else "")


def _writable(folder: Path) -> str | None:
    """Why ``folder`` (or the first of its parents that exists) cannot be written into, or None."""
    here = folder
    while not here.exists():
        here = here.parent
    if not here.is_dir():
        return f"{here} is a file"
    return None if os.access(here, os.W_OK | os.X_OK) else f"{here} is not writable"


def check_out(out: Path, settings: dict) -> None:
    """Refuse an --out that is a file, a folder of something else, or labels made with other settings."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    why = _writable(out)
    if why:
        raise ConfigError(f"--out {out}: cannot write there ({why})")
    if not out.exists():
        return
    path = out / STAMP
    if not path.exists():
        if any(out.iterdir()):
            raise ConfigError(f"--out {out}: not empty, and no {STAMP} says an earlier label run wrote it; choose "
                              "a new or empty folder")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--out {out}: {STAMP} is unreadable ({exc}); choose another folder") from exc
    if not isinstance(old, dict) or any(old.get(k) != settings[k] for k in SAME):
        raise ConfigError(f"--out {out}: holds labels made with {_settings(old if isinstance(old, dict) else {})}, "
                          f"not {_settings(settings)}; choose another --out")


def start_out(out: Path, settings: dict) -> None:
    """Create --out and its ``label.json`` (the run's first write)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / STAMP).exists():
        write_json_atomic(out / STAMP, settings)


def done_marker(out: Path, job: Job) -> dict | None:
    """The ``done.json`` of a job whose index is complete, or None: it is labelled (again)."""
    folder = out / job.name
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        index = (folder / INDEX).read_bytes()
    except (OSError, ValueError):
        return None
    ok = isinstance(marker, dict) and marker.get("index_sha256") == hashlib.sha256(index).hexdigest() \
        and marker.get("source") == job.path and isinstance(marker.get("row"), dict)
    return marker if ok else None


def finish_video(out: Path, job: Job, lines: list[str], row: dict) -> None:
    """Write a labelled video's index (every line, in frame order) and then its marker, each atomically."""
    folder = out / job.name
    index = "".join(line + "\n" for line in lines).encode()
    folder.mkdir(parents=True, exist_ok=True)  # a video of no frame to write has no folder yet
    write_bytes_atomic(folder / INDEX, index)
    # no clock in it: a video's folder is the same bytes whichever run, worker or cluster labelled it
    lasting = {k: v for k, v in row.items() if k not in ("wall_s", "fps", "resumed")}
    write_json_atomic(folder / MARKER, {"video": job.name, "source": job.path, "frames": len(lines),
                                        "index_sha256": hashlib.sha256(index).hexdigest(), "row": lasting})
