"""``unet-edge run``: stream a source through a model to a window, an MP4 and/or a browser."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.sinks import ServerSink, Sink, VideoSink, WindowSink


@dataclass
class RunConfig:
    model: Path
    source: str
    show: bool = False
    save: Path | None = None
    serve: str | None = None
    view: str = "overlay"
    alpha: float = 0.5
    legend: bool = False
    hud: bool = True
    provider: str = "cpu"
    threads: int | None = None
    max_frames: int | None = None
    loop: bool = False
    realtime: bool = False


def run_stream(cfg: RunConfig, log: Callable[[str], None] = print) -> dict:
    """Run the pipeline until the source ends, --max-frames, 'q' or Ctrl-C; returns the stats."""
    from unet_edge.runtime.mjpeg import MjpegServer, parse_address
    from unet_edge.runtime.segmenter import Segmenter
    from unet_edge.runtime.sources import open_source

    source = open_source(cfg.source)  # fail on a bad source before loading the model
    seg = Segmenter(cfg.model, cfg.provider, cfg.threads)
    renderer = Renderer(seg.classes, seg.palette, cfg.view, cfg.alpha, cfg.legend, cfg.hud)
    pipe = seg.pipeline(source, renderer, StreamOptions(cfg.max_frames, cfg.loop, cfg.realtime))
    sinks: list[Sink] = []
    try:
        if cfg.serve:
            host, port = parse_address(cfg.serve)
            server = MjpegServer(host, port, seg.classes, seg.palette, title=f"unet-edge: {cfg.source}").start()
            sinks.append(ServerSink(server))
            log(f"serving the live view on {server.url}")
        if cfg.show:
            sinks.append(WindowSink())
        log(f"streaming {cfg.source} through {cfg.model} [{seg.runner.backend} {seg.runner.precision}, "
            f"input {seg.input_size[0]}x{seg.input_size[1]}]")
        interrupted = False
        try:
            for frame in pipe.frames():
                if cfg.save and not any(isinstance(s, VideoSink) for s in sinks):
                    sinks.append(VideoSink(cfg.save, source.fps))
                t = time.monotonic()
                keep = all([s.write(frame.view) for s in sinks])
                frame.timings["sinks"] = 1e3 * (time.monotonic() - t)
                pipe.record(frame)
                if not keep:
                    break
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: finalizing outputs", file=sys.stderr)
    finally:
        for s in sinks:
            s.close()
        seg.close()
    log(pipe.stats.table())
    if cfg.save:
        log(f"saved {cfg.save}" + (" (finalized after interrupt)" if interrupted else ""))
    return pipe.stats.summary()
