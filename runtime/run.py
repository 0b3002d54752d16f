"""``unet-edge run``: stream a source through a model to a window, MP4 files, a browser and/or RTSP."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.core.shipped import resolve_model
from unet_edge.runtime.frame import Frame
from unet_edge.runtime.pipeline import StreamOptions
from unet_edge.runtime.recording import SaveSpec, open_recorder, parse_save
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.run_config import RunConfig
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


def _per_stream(save: str | Path | None, n: int) -> list[str | None]:
    """``out_{stream}.mp4`` -> out_0.mp4, out_1.mp4, ...; one source needs no placeholder."""
    if save is None or n == 1:
        return [None if save is None else str(save)] * n
    if "{stream}" not in str(save):
        raise ConfigError(f"--save {save}: with {n} sources the name needs {{stream}}, e.g. out_{{stream}}.mp4 "
                          "or rec_{stream}/")
    return [str(save).replace("{stream}", str(i)) for i in range(n)]


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


def split_saves(save: str | Path | list | None) -> tuple[str | Path | None, list]:
    """The one recording (file or segment folder) and the network outputs among the ``--save`` values."""
    from unet_edge.runtime.network_out import parse_network

    given = [] if save is None else [save] if isinstance(save, (str, Path)) else list(save)
    parsed = [(g, parse_network(str(g))) for g in given]
    networks = [spec for _, spec in parsed if spec is not None]
    files = [g for g, spec in parsed if spec is None]
    if len(files) > 1:
        raise ConfigError(f"--save {files[0]} --save {files[1]}: one recording per run (a file or a segment folder); "
                          "repeat --save for rtsp:// and rtp:// outputs")
    taken = [(n.host, n.port) for n in networks]
    if len(set(taken)) < len(taken):
        raise ConfigError("--save: two network outputs on the same HOST:PORT; give each its own port")
    return (files[0] if files else None), networks


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
    """Run the pipeline until the sources end, --max-frames, 'q', Ctrl-C or SIGTERM; returns the stats."""
    from unet_edge.runtime.mjpeg import MjpegServer, parse_address
    from unet_edge.runtime.periodic import PeriodicReport
    from unet_edge.runtime.segmenter import Segmenter
    from unet_edge.runtime.trace import FrameTrace

    uris = [cfg.source] if isinstance(cfg.source, (str, Path)) else list(cfg.source)
    if not uris:
        raise ConfigError("give at least one --source")
    # Every bad value fails here, before the model loads or a file is written.
    keep_segments = cfg.keep if cfg.segment is not None or cfg.save_masks is None else None
    recording, networks = split_saves(cfg.save)
    saves = [parse_save(p, cfg.segment, keep_segments) for p in _per_stream(recording, len(uris))]
    address = parse_address(cfg.serve) if cfg.serve else None
    report = None
    if cfg.stats_every is not None or cfg.stats_json is not None:
        report = PeriodicReport(60.0 if cfg.stats_every is None else cfg.stats_every, cfg.stats_json)
    trace = FrameTrace(cfg.trace) if cfg.trace else None
    sources = _open_sources(uris, cfg.topic)
    seg = Segmenter(resolve_model(cfg.model, log), cfg.provider, cfg.threads, cfg.size, device=cfg.device,
                    precision=cfg.precision)
    renderer = Renderer(seg.classes, seg.palette, cfg.view, cfg.alpha, cfg.legend, cfg.hud, cfg.min_confidence)
    pipe = seg.pipeline(sources, renderer, StreamOptions(cfg.max_frames, cfg.loop, cfg.realtime,
                                                         max_batch=cfg.max_batch))
    outputs = Outputs(sources, saves, cfg.realtime)
    interrupted, sized = False, set()
    writers: list = []
    try:
        writers = data_writers(cfg, seg, sources)  # the class maps themselves: PNGs, a ROS 2 bag
        pipe.observers.extend(w.observe for w in writers)
        if address:
            title = "unet-edge: " + ", ".join(s.display_name for s in sources)
            server = MjpegServer(*address, list(zip(seg.classes, seg.palette)), title=title, token=cfg.serve_token,
                                 streams=len(uris)).start()
            outputs.shared.append(ServerSink(server))
            log(f"serving the live view on {server.url}")
        if networks:
            from unet_edge.runtime.network_out import open_network

            for spec in networks:  # listening (or the .sdp written) before the first frame
                outputs.shared.append(open_network(spec, [s.fps for s in sources], log))
        if cfg.show:
            outputs.shared.append(WindowSink(streams=len(uris)))
        if trace:
            pipe.observers.append(lambda f, latency: trace.write(f.index, f.t_capture, latency, f.timings, f.stream))
        if report:
            pipe.observers.append(lambda f, latency: report.observe(f.timings, latency, pipe.stats))
        h, w = seg.input_size
        log(f"streaming {', '.join(uris)} through {cfg.model} [{seg.runner.describe()}, "
            + (f"input sized to the footage's aspect at about {h}x{w}'s pixels]" if seg.runner.sized_by_frames
               else f"input {h}x{w}]"))
        if len(uris) > 1:
            log(_batching(cfg, seg, pipe, len(uris)))
        with sigterm_as_interrupt():
            try:
                for frame in pipe.frames():  # source -> process -> overlay (runtime/pipeline.py)
                    if seg.runner.sized_by_frames and frame is not None and frame.stream not in sized:
                        sized.add(frame.stream)
                        _log_size(seg, frame, log)
                    if not outputs.write(frame):  # -> output: window, live view, recordings
                        break
            except KeyboardInterrupt:
                interrupted = True
                print("\ninterrupted: finalizing outputs", file=sys.stderr)
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
    summary = pipe.summary()
    log(pipe.stats.table())
    _log_streams(summary, log)
    for writer in writers:
        key, info, line = writer.summary()
        summary[key] = info
        log(line)
    for spec, rec in zip(saves, outputs.recorders):
        if spec:
            finished = getattr(rec, "finished", None)
            where = spec.path if finished is None else f"{len(finished)} segments in {spec.path}"
            log(f"saved {where}" + (" (finalized after interrupt)" if interrupted else ""))
    return summary
