"""``unet-edge run``: stream a source through a model to a window, MP4 files, a browser and/or RTSP."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.runtime.frame import Frame
from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.recording import SaveSpec, open_recorder, prepare_save
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.run_config import RunConfig
from unet_edge.runtime.run_plan import RunPlan, plan_run
from unet_edge.runtime.sinks import ServerSink, Sink, WindowSink
from unet_edge.runtime.sources import Source


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


class Outputs:
    """Where the views go: the sinks every stream shares (window, live view) and each stream's
    recording, opened at its first frame, once the source is open and its rate known."""

    def __init__(self, sources: list[Source], saves: list[SaveSpec | None], realtime: bool = False) -> None:
        self.sources, self.saves, self.realtime = sources, saves, realtime
        self.shared: list[Sink] = []
        self.recorders: list[Sink | None] = [None] * len(sources)

    def write(self, frame: Frame) -> bool:
        """Hand ``frame.view`` to its sinks (the pipeline times the caller's hold of a frame as its ``sinks``
        stage); False: a sink asked to stop."""
        i = frame.stream
        if self.saves[i] and self.recorders[i] is None:
            src = self.sources[i]  # a paced file drops frames like a camera: its recording keeps time too
            self.recorders[i] = open_recorder(self.saves[i], src.fps, src.live or self.realtime)
        sinks = [*self.shared, self.recorders[i]] if self.recorders[i] else self.shared
        return all([s.write(frame.view, i) for s in sinks])  # every sink gets the frame, even after a False

    def close(self) -> None:
        """Close every sink, then raise the first one's error (a recording that cannot be finalized)."""
        error: BaseException | None = None
        for s in [*self.shared, *self.recorders]:
            if s is not None:
                try:
                    s.close()
                except Exception as exc:
                    error = error or exc
        if error is not None:
            raise error


def data_writers(cfg: RunConfig, seg, sources: list[Source]) -> list:
    """The writers of ``--save-masks`` and ``--save-bag`` (each a pipeline observer with close and summary)."""
    writers = []
    if cfg.save_masks is not None:
        from unet_edge.runtime.masks import MaskWriter

        writers.append(MaskWriter(cfg.save_masks, seg.classes, seg.palette, sources,
                                  cfg.keep if cfg.segment is None else None))
    if cfg.save_bag is not None:
        from unet_edge.runtime.rosbag import BagWriter

        try:
            writers.append(BagWriter(cfg.save_bag, seg.classes, seg.palette, sources))
        except BaseException:
            for w in writers:
                w.close()
            raise
    return writers


def _open_sources(uris: list, topic: str | None) -> list[Source]:
    from unet_edge.runtime.sources import open_source

    sources = [open_source(u) for u in uris]
    if topic is not None:
        bags = [s for s in sources if hasattr(s, "topic")]
        if not bags:
            raise ConfigError("--topic picks the image topic of a --source bag; no source is a bag")
        for src in bags:
            src.topic = topic
    return sources


def _batching(cfg: RunConfig, seg, pipe, n: int) -> str:
    if pipe.batching:
        return f"batching up to {pipe.max_batch} frames of {n} sources"
    return (f"{cfg.model.name if isinstance(cfg.model, Path) else cfg.model} has a fixed batch of "
            f"{seg.runner.meta.input.shape[0]}: {n} sources are inferred one frame at a time, round-robin "
            "(export with --dynamic to batch them)")


def _log_streams(summary: dict, log: Callable[[str], None]) -> None:
    for i, st in enumerate(summary.get("streams", [])):
        lat = st["latency_ms"]
        log(f"stream {i} {st['source']}: frames {st['frames']}  FPS {st['fps']:.1f}  capture->display p50/p99 "
            f"{lat['p50'] or 0:.1f}/{lat['p99'] or 0:.1f} ms  dropped {st['dropped']}  reconnects {st['reconnects']}")
    if "streams" in summary:
        log("batch sizes used: " + ", ".join(f"{k} x{v}" for k, v in summary["batch_sizes"].items()))


def _log_size(seg, frame: Frame, log: Callable[[str], None]) -> None:
    """Say which size a stream's footage chose for a dynamic export (once per stream)."""
    (fh, fw), (h, w) = frame.image.shape[:2], seg.runner.size_for(frame.image.shape[:2])
    log(f"stream {frame.stream}: input {h}x{w}, {fw}x{fh} footage at the model's {seg.input_size[0]}x"
        f"{seg.input_size[1]} pixel count (--size HxW to choose)")


def run_stream(cfg: RunConfig, log: Callable[[str], None] = print) -> dict:
    """Run the pipeline until the sources end, --max-frames, 'q', Ctrl-C or SIGTERM; returns the stats.
    Every option is checked (``plan_run``) before the model loads or anything is written."""
    from unet_edge.runtime.periodic import PeriodicReport
    from unet_edge.runtime.segmenter import Segmenter
    from unet_edge.runtime.trace import FrameTrace

    plan = plan_run(cfg, log)  # source -> process -> overlay -> output, each checked first
    sources = _open_sources(plan.uris, cfg.topic)
    for spec in plan.saves:
        if spec is not None:
            prepare_save(spec)
    report = None
    if cfg.stats_every is not None or cfg.stats_json is not None:
        report = PeriodicReport(60.0 if cfg.stats_every is None else cfg.stats_every, cfg.stats_json)
    trace = FrameTrace(cfg.trace) if cfg.trace else None
    seg = Segmenter(plan.runner)
    renderer = Renderer(seg.classes, seg.palette, cfg.view, cfg.alpha, cfg.legend, cfg.hud, cfg.min_confidence)
    pipe = seg.pipeline(sources, renderer, StreamOptions(cfg.max_frames, cfg.loop, cfg.realtime,
                                                         max_batch=cfg.max_batch))
    outputs = Outputs(sources, plan.saves, cfg.realtime)
    interrupted, writers = False, []
    try:
        writers = data_writers(cfg, seg, sources)  # the class maps themselves: PNGs, a ROS 2 bag
        pipe.observers.extend(w.observe for w in writers)
        _open_shared(cfg, plan, seg, sources, outputs, log)
        for observer in (trace and (lambda f, lat: trace.write(f.index, f.t_capture, lat, f.timings, f.stream)),
                         report and (lambda f, lat: report.observe(f.timings, lat, pipe.stats))):
            if observer:
                pipe.observers.append(observer)
        _log_start(cfg, plan, seg, pipe, log)
        interrupted = _loop(seg, pipe, outputs, log)
    finally:
        try:
            outputs.close()
            for writer in writers:
                writer.close()
        finally:
            seg.close()
            for closing in (report, trace):
                if closing:
                    closing.close()
    return _finish(pipe, writers, plan, outputs, interrupted, log)


def _open_shared(cfg: RunConfig, plan: RunPlan, seg, sources: list[Source], outputs: Outputs,
                 log: Callable[[str], None]) -> None:
    """The outputs every stream shares: the live view, network streams and the window."""
    if plan.address:
        from unet_edge.runtime.mjpeg import MjpegServer

        title = "unet-edge: " + ", ".join(s.display_name for s in sources)
        server = MjpegServer(*plan.address, list(zip(seg.classes, seg.palette)), title=title, token=cfg.serve_token,
                             streams=len(sources)).start()
        outputs.shared.append(ServerSink(server))
        log(f"serving the live view on {server.url}")
    if plan.networks:
        from unet_edge.runtime.network_out import open_network

        for spec in plan.networks:  # listening (or the .sdp written) before the first frame
            outputs.shared.append(open_network(spec, [s.fps for s in sources], log))
    if cfg.show:
        outputs.shared.append(WindowSink(streams=len(sources)))


def _log_start(cfg: RunConfig, plan: RunPlan, seg, pipe, log: Callable[[str], None]) -> None:
    h, w = seg.input_size
    log(f"streaming {', '.join(plan.uris)} through {cfg.model} [{seg.runner.describe()}, "
        + (f"input sized to the footage's aspect at about {h}x{w}'s pixels]" if seg.runner.sized_by_frames
           else f"input {h}x{w}]"))
    if len(plan.uris) > 1:
        log(_batching(cfg, seg, pipe, len(plan.uris)))


def _loop(seg, pipe, outputs: Outputs, log: Callable[[str], None]) -> bool:
    """Frames to the outputs until the end; True when interrupted (Ctrl-C, SIGTERM)."""
    sized: set[int] = set()
    with sigterm_as_interrupt():
        try:
            for frame in pipe.frames():  # source -> process -> overlay (runtime/pipeline.py)
                if seg.runner.sized_by_frames and frame is not None and frame.stream not in sized:
                    sized.add(frame.stream)
                    _log_size(seg, frame, log)
                if not outputs.write(frame):  # -> output: window, live view, recordings
                    break
        except KeyboardInterrupt:
            print("\ninterrupted: finalizing outputs", file=sys.stderr)
            return True
    return False


def _finish(pipe, writers: list, plan: RunPlan, outputs: Outputs, interrupted: bool,
            log: Callable[[str], None]) -> dict:
    """The run's summary, logged."""
    summary = pipe.summary()
    log(pipe.stats.table())
    _log_streams(summary, log)
    for writer in writers:
        key, info, line = writer.summary()
        summary[key] = info
        log(line)
    for spec, rec in zip(plan.saves, outputs.recorders):
        if spec:
            finished = getattr(rec, "finished", None)
            where = spec.path if finished is None else f"{len(finished)} segments in {spec.path}"
            log(f"saved {where}" + (" (finalized after interrupt)" if interrupted else ""))
    return summary
