"""Write a synthetic dataset in the ``folder`` layout plus a dashcam MP4 clip."""

from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2

from unet_edge.core.io import ensure_empty_dir, write_json_atomic
from unet_edge.core.video import VideoWriter
from unet_edge.data.classes import CAMVID
from unet_edge.synth import drive, scene


@dataclass
class SynthResult:
    root: Path
    images: int
    clip: Path | None


def _write_one(args: tuple[Path, int, int, tuple[int, int]]) -> None:
    root, index, seed, size = args
    img, mask = scene(seed * 1_000_003 + index, size)
    name = f"{index:06d}.png"
    # Fast PNG compression: a dataset write is I/O-bound, not size-bound.
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    cv2.imwrite(str(root / "images" / name), img, params)
    cv2.imwrite(str(root / "masks" / name), mask, params)


def write_synth(out: str | Path, frames: int = 300, size: tuple[int, int] = (360, 480), seed: int = 0,
                clip_frames: int = 150, fps: float = 30.0, workers: int = 2, force: bool = False) -> SynthResult:
    """Write ``frames`` independent scenes to ``out/images`` + ``out/masks`` (CamVid classes,
    ``classes.json``) and a ``clip_frames``-long drive to ``out/clip.mp4``.

    The dataset is built in a temporary folder beside ``out`` and moved into place at the end,
    so an interrupted run never leaves a half-written dataset behind.
    """
    out = Path(out)
    ensure_empty_dir(out, force)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "masks").mkdir()
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
        for item in tmp.iterdir():
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return SynthResult(out, frames, clip)
