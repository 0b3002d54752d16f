"""Write a synthetic dataset in the ``folder`` layout plus a dashcam MP4 clip."""

from __future__ import annotations

import math
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2

from unet_edge.core.errors import ConfigError
from unet_edge.core.io import write_json_atomic
from unet_edge.core.video import VideoWriter
from unet_edge.data.classes import CAMVID
from unet_edge.synth import drive, scene


@dataclass
class SynthResult:
    root: Path
    images: int
    clip: Path | None
    clip_frames: int = 0


def partial_dir(out: Path) -> Path:
    """Where a synth is built before it is moved into ``out``."""
    return out.with_name(f".{out.name}.partial")


def check_synth(out: Path, frames: int, size: tuple[int, int], clip_frames: int | None, fps: float, workers: int,
                force: bool) -> None:
    """Every option of a synth against the folder it would write, before anything is written."""
    if frames < 1:
        raise ConfigError(f"--frames {frames}: give at least 1 scene")
    if clip_frames is not None and clip_frames < 0:
        raise ConfigError(f"--clip-frames {clip_frames}: give 0 (no clip) or more frames")
    if not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"--fps {fps:g}: give a frame rate above 0, e.g. 30")
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if len(size) != 2 or min(size) < 16:
        raise ConfigError(f"--size {'x'.join(map(str, size))}: give HxW with both sides at least 16")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: a file, not a folder; give the folder to write the dataset into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"{out}: folder is not empty; choose another or pass --force")
    if partial_dir(out).exists() and not force:
        raise ConfigError(f"{out}: {partial_dir(out)} holds an interrupted synth of this name; pass --force to "
                          "replace it (it is re-created from the seed) or move it away")


def _write_one(args: tuple[Path, int, int, tuple[int, int]]) -> None:
    root, index, seed, size = args
    img, mask = scene(seed * 1_000_003 + index, size)
    name = f"{index:06d}.png"
    # Fast PNG compression: a dataset write is I/O-bound, not size-bound.
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    cv2.imwrite(str(root / "images" / name), img, params)
    cv2.imwrite(str(root / "masks" / name), mask, params)


def write_synth(out: str | Path, frames: int = 300, size: tuple[int, int] = (360, 480), seed: int = 0,
                clip_frames: int | None = None, fps: float = 30.0, workers: int = 2,
                force: bool = False) -> SynthResult:
    """Write ``frames`` independent scenes to ``out/images`` + ``out/masks`` (CamVid classes,
    ``classes.json``) and a ``clip_frames``-long drive (None: ``frames`` long; 0: none) to ``out/clip.mp4``.

    The options are checked first (:func:`check_synth`); the dataset is built in a temporary folder
    beside ``out`` and moved into place at the end, so an interrupted run never leaves a half-written
    dataset behind.
    """
    out = Path(out)
    check_synth(out, frames, size, clip_frames, fps, workers, force)
    clip_frames = frames if clip_frames is None else clip_frames
    tmp = partial_dir(out)
    shutil.rmtree(tmp, ignore_errors=True)  # only with --force: check_synth refuses it otherwise
    try:
        (tmp / "images").mkdir(parents=True)
        (tmp / "masks").mkdir()
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"{out}: cannot write there ({exc.strerror or exc})") from exc
    try:
        jobs = [(tmp, i, seed, size) for i in range(frames)]
        if workers > 1 and frames > 16:
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_write_one, jobs, chunksize=8))
        else:
            for job in jobs:
                _write_one(job)
        write_json_atomic(tmp / "classes.json", {**CAMVID.to_json(), "source": f"unet-edge synth --seed {seed}"})
        clip = None
        if clip_frames > 0:
            clip = out / "clip.mp4"
            with VideoWriter(tmp / "clip.mp4", fps) as writer:
                for img, _ in drive(seed, size, clip_frames, fps):
                    writer.write(img)
        out.mkdir(parents=True, exist_ok=True)
        for item in tmp.iterdir():
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SynthResult(out, frames, clip, clip_frames if clip else 0)
