"""The options of ``unet-edge label``, declared once (the CLI is bound to them; --help loads no Ray)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.options import OV_DEVICE_HELP, OV_PRECISION_HELP, OV_PRECISIONS, PROVIDER_HELP, PROVIDERS, opt
from unet_edge.core.parse import parse_size


@dataclass
class LabelConfig:
    """Every option of ``unet-edge label`` with its default and help."""

    model: Path = opt(help="exported model: .onnx or .engine (with its .json sidecar), or a shipped name "
                           "(camvid-lite0)")
    source: str | list[str] = opt(help="a folder (every video under it, and every folder of images), a glob, or a "
                                       "LIST.txt of videos and folders (one a line, relative to the list); "
                                       "repeatable", cli_type=list[str], parse=list)
    out: Path = opt(help="folder of the labels: OUT/<video>/ holds its class-map PNGs, index.jsonl and done.json "
                         "(the same format as run --save-masks); OUT/summary.parquet one row a video")
    every: int = opt(1, "label every Nth frame of each video (its index keeps the frame's number)", min=1)
    workers: int = opt(1, "inference actors; each takes the cluster's cores // N threads (or one GPU each with "
                          "--provider cuda | tensorrt)", min=1)
    ray_address: str | None = opt(None, "a running Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a "
                                        "local Ray started for this command on this box's cores)")
    provider: str = opt("cpu", PROVIDER_HELP, choices=PROVIDERS)
    device: str | None = opt(None, OV_DEVICE_HELP, flags=("--device",))
    precision: str | None = opt(None, OV_PRECISION_HELP, flags=("--precision",), choices=OV_PRECISIONS)
    size: tuple[int, int] | None = opt(None, "input HxW of a --dynamic export (default: its export size's pixel "
                                             "count at each video's aspect)", cli_type=str | None, parse=parse_size)
    max_batch: int = opt(8, "frames inferred together by a dynamic-batch export (and handed to each actor)", min=1)
    progress_every: float = opt(10.0, "seconds between progress lines when stderr is not a terminal", above=0)
