"""``unet-edge run``: stream a source through a model to a window, MP4 files and/or a browser."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.recording import open_recorder, parse_save
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.sinks import ServerSink, Sink, WindowSink


@dataclass
class RunConfig:
    model: Path
    source: str
    show: bool = False
    save: str | Path | None = None  # out.mp4, or DIR/ with segment
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
    segment: float | None = None  # seconds per recorded segment
    keep: int | None = None  # newest segments to keep
    stats_every: float | None = None  # seconds between one-line reports on stderr
    stats_json: Path | None = None  # JSON Lines, one record per report
    serve_token: str | None = None  # the live view's token (generated when bound beyond loopback)
    trace: Path | None = None  # CSV of every displayed frame's timings


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (how systemd and docker stop a service) finalizes outputs like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_stream(cfg: RunConfig, log: Callable[[str], None] = print) -> dict:
    """Run the pipeline until the source ends, --max-frames, 'q', Ctrl-C or SIGTERM; returns the stats."""
    from unet_edge.runtime.mjpeg import MjpegServer, parse_address
    from unet_edge.runtime.periodic import PeriodicReport
    from unet_edge.runtime.segmenter import Segmenter
    from unet_edge.runtime.sources import open_source
    from unet_edge.runtime.trace import FrameTrace

    # Every bad value fails here, before the model loads or a file is written.
    save = parse_save(cfg.save, cfg.segment, cfg.keep)
    address = parse_address(cfg.serve) if cfg.serve else None
    report = None
    if cfg.stats_every is not None or cfg.stats_json is not None:
        report = PeriodicReport(60.0 if cfg.stats_every is None else cfg.stats_every, cfg.stats_json)
    trace = FrameTrace(cfg.trace) if cfg.trace else None
    source = open_source(cfg.source)
    seg = Segmenter(cfg.model, cfg.provider, cfg.threads)
    renderer = Renderer(seg.classes, seg.palette, cfg.view, cfg.alpha, cfg.legend, cfg.hud)
    pipe = seg.pipeline(source, renderer, StreamOptions(cfg.max_frames, cfg.loop, cfg.realtime))
    sinks: list[Sink] = []
    recorder: Sink | None = None
    interrupted = False
    try:
        if address:
            server = MjpegServer(*address, seg.classes, seg.palette, title=f"unet-edge: {source.display_name}",
                                 token=cfg.serve_token).start()
            sinks.append(ServerSink(server))
            log(f"serving the live view on {server.url}")
        if cfg.show:
            sinks.append(WindowSink())
        log(f"streaming {cfg.source} through {cfg.model} [{seg.runner.backend} {seg.runner.precision}, "
            f"input {seg.input_size[0]}x{seg.input_size[1]}]")
        with sigterm_as_interrupt():
            try:
                for frame in pipe.frames():
                    if save and recorder is None:  # the source's fps is known once it is open
                        recorder = open_recorder(save, source.fps, source.live)
                        sinks.append(recorder)
                    t = time.monotonic()
                    keep = all([s.write(frame.view) for s in sinks])
                    frame.timings["sinks"] = 1e3 * (time.monotonic() - t)
                    latency = pipe.record(frame)
                    if trace:
                        trace.write(frame.index, frame.t_capture, latency, frame.timings)
                    if report:
                        report.record(frame.timings, latency)
                        report.maybe_emit(pipe.stats)
                    if not keep:
                        break
            except KeyboardInterrupt:
                interrupted = True
                print("\ninterrupted: finalizing outputs", file=sys.stderr)
    finally:
        for s in sinks:
            s.close()
        seg.close()
        for closing in (report, trace):
            if closing:
                closing.close()
    log(pipe.stats.table())
    if save:
        finished = getattr(recorder, "finished", None)
        where = save.path if finished is None else f"{len(finished)} segments in {save.path}"
        log(f"saved {where}" + (" (finalized after interrupt)" if interrupted else ""))
    return pipe.stats.summary()
