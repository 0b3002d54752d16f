"""The options of ``unet-edge run``, declared once (the CLI is bound to them; --help loads nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.options import OV_DEVICE_HELP, OV_PRECISION_HELP, OV_PRECISIONS, PROVIDER_HELP, PROVIDERS, opt
from unet_edge.core.parse import parse_size

# --help's panels after the common options (model, source, save, show, serve, max-frames)
OUTPUTS, VIEW, BACKEND, SOURCES, STATS = "Outputs", "View", "Backend and input size", "Sources", "Measuring"


@dataclass
class RunConfig:
    """Every option of ``unet-edge run`` with its default and help (the CLI is bound to it)."""

    model: Path = opt(help="exported model: .onnx or .engine (with its .json sidecar)")
    # one source, or several through the same runner
    source: str | list[str] = opt(help="video, image folder/glob, 0, v4l2:///dev/videoN, rtsp://, http://, csi://N, "
                                       "a GStreamer pipeline, or synth://; repeat for several streams through one "
                                       "model", cli_type=list[str], parse=list)
    save: str | Path | list[str] | None = opt(None, "out.mp4, or DIR/ with --segment ({stream} in the name for several "
                                                    "sources: out_{stream}.mp4); rtsp://HOST:PORT/PATH serves H.264 "
                                                    "(HOST @: all interfaces), rtp://HOST:PORT sends it; repeatable",
                                              cli_type=list[str] | None, parse=lambda v: list(v) or None)
    show: bool = opt(False, "open a window")
    serve: str | None = opt(None, "MJPEG live view on [HOST:]PORT (host: 127.0.0.1)")
    max_frames: int | None = opt(None, "stop after this many frames", min=1)
    # Outputs: recordings, class maps and bags
    segment: float | None = opt(None, "record DIR/<start>_<index>.mp4 segments of this many seconds, each "
                                      "finalized when the next starts", above=0, needs="save", panel=OUTPUTS)
    keep: int | None = opt(None, "keep only the newest N segments (--segment) or frames (--save-masks)", min=1,
                           panel=OUTPUTS)
    save_masks: Path | None = opt(None, "write each frame's class ids to DIR as a palette PNG at the source's size "
                                        "(and its confidence map), with DIR/index.jsonl", panel=OUTPUTS)
    save_bag: Path | None = opt(None, "write a ROS 2 bag (MCAP) of /segmentation/mask and /segmentation/overlay, "
                                      "stamped as their input", panel=OUTPUTS)
    serve_token: str | None = opt(None, "the live view's ?token= (default: generated when bound beyond loopback)",
                                  needs="serve", panel=OUTPUTS)
    # The view
    view: str = opt("overlay", "overlay | mask | side | confidence (a --confidence export)",
                    choices=("overlay", "mask", "side", "confidence"), panel=VIEW)
    alpha: float = opt(0.5, "opacity of the class colours over the frame", min=0, max=1, panel=VIEW)
    min_confidence: float = opt(0.0, "paint pixels below this probability as unknown (a --confidence export)",
                                min=0, max=1, panel=VIEW)
    legend: bool = opt(False, "a strip of the class colours under the view", panel=VIEW)
    hud: bool = opt(True, "frame rate, latency and backend drawn on the view", flags=("--hud/--no-hud",), panel=VIEW)
    # The backend and the model's input
    provider: str = opt("cpu", PROVIDER_HELP, choices=PROVIDERS, panel=BACKEND)
    threads: int | None = opt(None, "CPU threads for inference", min=1, panel=BACKEND)
    device: str | None = opt(None, OV_DEVICE_HELP, flags=("--device",), panel=BACKEND)
    precision: str | None = opt(None, OV_PRECISION_HELP, flags=("--precision",), choices=OV_PRECISIONS, panel=BACKEND)
    size: tuple[int, int] | None = opt(None, "input HxW of a --dynamic export (default: its export size's pixel "
                                             "count at the footage's aspect)", cli_type=str | None, parse=parse_size,
                                       panel=BACKEND)
    max_batch: int = opt(8, "frames of several sources inferred together (a --dynamic export)", min=1, panel=BACKEND)
    # Sources
    topic: str | None = opt(None, "the image topic of a --source bag (default: its only one)", panel=SOURCES)
    loop: bool = opt(False, "restart a file source at its end", panel=SOURCES)
    realtime: bool = opt(False, "pace a file like a camera, dropping stale frames", panel=SOURCES)
    # Measuring
    stats_every: float | None = opt(None, "print a one-line summary to stderr every N seconds", above=0, panel=STATS)
    stats_json: Path | None = opt(None, "append one JSON record per report (JSON Lines)", panel=STATS)
    trace: Path | None = opt(None, "CSV of every displayed frame's timings", panel=STATS)
