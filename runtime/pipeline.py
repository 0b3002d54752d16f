"""The streaming pipeline: source -> process -> overlay, with the stages on threads joined by
small bounded queues, so throughput is set by the slowest stage, not the sum of them.

Where each stage runs:
- capture: a thread per source (``runtime/feed.py``): newest-frame slot, reconnects and drop counts
  for live ones, every frame for files;
- resize + infer: one thread for every source. It takes the frames that are ready, round-robin,
  and with a model whose batch dimension is dynamic infers them as one batch (up to
  ``max_batch``); a stalled or dead source never holds up the others. A dynamic export given no
  size runs each stream at its own footage's aspect (``Runner.size_for``): frames of one size are
  batched together;
- render, and whatever the caller does with the frame (sinks): the caller's thread, in ``frames()``.

The pipeline alone records a frame's statistics, when the caller comes back for the next frame
(or stops): its latency is from capture until the caller was done with it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from unet_edge.runtime.feed import Feed
from unet_edge.runtime.frame import Frame, to_model_size
from unet_edge.runtime.render import Renderer, Status
from unet_edge.runtime.sources import Source
from unet_edge.runtime.stats import StreamStats

_END = object()


@dataclass
class StreamOptions:
    max_frames: int | None = None  # per stream
    loop: bool = False  # restart a file source at its end
    realtime: bool = False  # pace a file at its fps and drop frames the model cannot keep up with
    queue_size: int = 2
    reconnect_retries: int | None = None  # live sources: None retries forever
    reconnect_backoff: tuple[float, float] = (0.1, 2.0)  # live sources, seconds: first retry, cap
    max_batch: int = 8  # frames inferred together, with a dynamic-batch model


class Pipeline:
    """Runs ``runner`` over ``sources``; ``frames()`` yields rendered Frames in the caller's thread.
    Each function in ``observers`` is called as ``fn(frame, latency_ms)`` when a frame is recorded."""

    def __init__(self, runner, sources: Source | Sequence[Source], renderer: Renderer | None,
                 opts: StreamOptions | None = None) -> None:
        self.runner, self.renderer = runner, renderer
        self.sources = [sources] if isinstance(sources, Source) else list(sources)
        self.opts = opts or StreamOptions()
        self.batching = runner.meta.batch_dynamic
        self.max_batch = max(1, self.opts.max_batch) if self.batching else 1
        self.stats = StreamStats()
        self.stream_stats = [StreamStats() for _ in self.sources]
        self.observers: list[Callable[[Frame, float], None]] = []
        self.batch_sizes: Counter[int] = Counter()
        self.sizes: Counter[tuple[int, int]] = Counter()  # frames inferred at each input size (H, W)
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.feeds: list[Feed] = []
        self._arrived = threading.Condition()
        self._arrivals = 0
        self._next = 0  # the feed a round starts with
        self._out_q: queue.Queue = queue.Queue(maxsize=self.opts.queue_size * len(self.sources))

    def _notify(self) -> None:
        with self._arrived:
            self._arrivals += 1
            self._arrived.notify_all()

    # --- resize + infer (the infer thread) -----------------------------------------------------
    def _gather(self) -> list[Frame]:
        """Frames that are ready now, one per feed per round, starting after the last feed served."""
        while not self.stop_event.is_set():
            with self._arrived:
                seen = self._arrivals
            batch: list[Frame] = []
            n = len(self.feeds)
            for k in range(n):
                frame = self.feeds[(self._next + k) % n].take()
                if frame is not None:
                    batch.append(frame)
                    if len(batch) == self.max_batch:
                        break
            self._next = (self._next + 1) % n  # rotate, so a full batch never starves the last feeds
            if batch:
                return batch
            if all(f.done for f in self.feeds):
                return []
            with self._arrived:
                if self._arrivals == seen:
                    self._arrived.wait(0.1)
        return []

    def _infer_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                batch = self._gather()
                if not batch:
                    break
                # A dynamic export runs each stream at its footage's aspect: one infer per size in the batch.
                by_size: dict[tuple[int, int], list[Frame]] = {}
                for frame in batch:
                    by_size.setdefault(self.runner.fit_to(frame.image.shape[:2]), []).append(frame)
                for size, frames in by_size.items():
                    self._infer_group(size, frames)
        except BaseException as exc:
            self.errors.append(exc)
        self._put_end()

    def _infer_group(self, size: tuple[int, int], frames: list[Frame]) -> None:
        t0 = time.monotonic()
        images = [to_model_size(f.image, size) for f in frames]
        t1 = time.monotonic()
        outs = self.runner.infer_outputs(np.stack(images))
        t2 = time.monotonic()
        masks, conf = next(iter(outs.values())), outs.get("confidence")
        self.sizes[size] += len(frames)
        self.batch_sizes[len(frames)] += 1
        for i, frame in enumerate(frames):
            frame.mask = masks[i]
            frame.confidence = None if conf is None else conf[i]
            frame.timings.update(resize=1e3 * (t1 - t0) / len(frames), infer=1e3 * (t2 - t1))
            while not self._put(frame):
                pass

    def _put_end(self) -> None:
        """Tell the caller's thread the stream is over, making room if it stopped reading."""
        while True:
            try:
                self._out_q.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self.stop_event.is_set():
                    try:
                        self._out_q.get_nowait()
                    except queue.Empty:
                        pass

    def _put(self, item) -> bool:
        try:
            self._out_q.put(item, timeout=0.1)
            return True
        except queue.Full:
            return self.stop_event.is_set()

    # --- render (the caller's thread) and the record of each frame ------------------------------
    def frames(self) -> Iterator[Frame]:
        """Start the threads and yield each processed frame (rendered when a renderer is set)."""
        self.feeds = [Feed(i, src, self.opts, self._notify) for i, src in enumerate(self.sources)]
        try:
            for feed in self.feeds:
                feed.start()
        except BaseException:
            for feed in self.feeds:
                feed.stop()
            raise
        infer = threading.Thread(target=self._infer_loop, name="infer", daemon=True)
        infer.start()
        self._last_done: dict[int, float] = {}
        try:
            while True:
                item = self._out_q.get()
                if item is _END:
                    break
                frame: Frame = item
                t0 = time.monotonic()
                if self.renderer is not None:
                    frame.view = self.renderer.render(frame.image, frame.mask, self.status(frame), frame.confidence)
                t1 = time.monotonic()
                frame.timings["render"] = 1e3 * (t1 - t0)
                try:
                    yield frame
                finally:  # the caller is done with it (its sinks): came back for the next, or stopped
                    frame.timings["sinks"] = 1e3 * (time.monotonic() - t1)
                    self._record(frame)
        finally:
            self.stop_event.set()
            for feed in self.feeds:
                feed.stop()
            infer.join(timeout=5.0)
            self._update_counts()
            self.stats.finish()
            for s in self.stream_stats:
                s.finish()
        if self.errors:
            raise self.errors[0]

    def _update_counts(self) -> None:
        for feed, s in zip(self.feeds, self.stream_stats):
            s.dropped, s.reconnects = feed.dropped, feed.reconnects
        self.stats.dropped = sum(f.dropped for f in self.feeds)
        self.stats.reconnects = sum(f.reconnects for f in self.feeds)

    def _record(self, frame: Frame) -> None:
        """Count a frame as displayed now, in the run's and its stream's stats; tell the observers."""
        now = time.monotonic()
        latency = 1e3 * (now - frame.t_capture)
        last = self._last_done.get(frame.stream)
        interval = None if last is None else 1e3 * (now - last)
        self._last_done[frame.stream] = now
        self.stats.add(frame.timings, latency, interval)
        self.stream_stats[frame.stream].add(frame.timings, latency, interval)
        self._update_counts()  # live counts, so periodic reports of endless runs see them
        for observe in self.observers:
            observe(frame, latency)

    def summary(self) -> dict:
        """The run's stats, per stream too, the batch sizes used and the frames at each input size."""
        out = self.stats.summary()
        if len(self.sources) > 1:
            out["streams"] = [dict(s.summary(), source=src.display_name)
                              for s, src in zip(self.stream_stats, self.sources)]
        out["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        out["input_sizes"] = {f"{h}x{w}": n for (h, w), n in sorted(self.sizes.items())}
        return out

    def status(self, frame: Frame) -> Status:
        """What the HUD shows for ``frame`` (the renderer formats it)."""
        return Status(fps=self.stream_stats[frame.stream].recent_fps(), infer_ms=frame.timings.get("infer", 0.0),
                      backend=self.runner.backend, precision=self.runner.precision,
                      dropped=self.feeds[frame.stream].dropped, stream=frame.stream if len(self.sources) > 1 else None)
