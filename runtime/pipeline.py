"""The streaming pipeline: capture, resize + infer, and render run on their own threads with small
bounded queues, so throughput is set by the slowest stage, not the sum of them.

Live sources (and files with ``realtime``) go through a newest-frame slot: the model always gets
the freshest frame and stale ones are dropped and counted. Files otherwise deliver every frame.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2

from unet_edge.runtime.frame import Frame
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.sources import LatestReader, Source
from unet_edge.runtime.stats import StreamStats

_END = object()


@dataclass
class StreamOptions:
    max_frames: int | None = None
    loop: bool = False  # restart a file source at its end
    realtime: bool = False  # pace a file at its fps and drop frames the model cannot keep up with
    queue_size: int = 2
    reconnect_retries: int | None = None  # live sources: None retries forever


class _Paced(Source):
    """Plays a file source at its own fps (and loops it when asked), like a camera would."""

    def __init__(self, inner: Source, pace: bool, loop: bool) -> None:
        self.inner, self.pace, self.loop = inner, pace, loop
        self.live, self.name, self.fps = pace, inner.name, inner.fps
        self.t0, self.n = None, 0

    def read(self):
        ok, frame = self.inner.read()
        if not ok and self.loop:
            self.inner.close()
            self.inner.open()
            ok, frame = self.inner.read()
        if ok and self.pace:
            self.t0 = self.t0 or time.monotonic()
            self.n += 1
            wait = self.t0 + self.n / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return ok, frame

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()


class Pipeline:
    """Runs ``runner`` over ``source``; ``frames()`` yields rendered Frames in the caller's thread."""

    def __init__(self, runner, source: Source, renderer: Renderer | None, opts: StreamOptions | None = None) -> None:
        self.runner, self.source, self.renderer = runner, source, renderer
        self.opts = opts or StreamOptions()
        self.stats = StreamStats()
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.reader: LatestReader | None = None
        self.reader_backoff = (0.1, 2.0)  # seconds: first retry, cap
        self._frames_q: queue.Queue = queue.Queue(maxsize=self.opts.queue_size + 2)
        self._out_q: queue.Queue = queue.Queue(maxsize=self.opts.queue_size)
        self._taken = 0  # frames taken from a live reader, for their indices

    # --- stage 1: capture -------------------------------------------------------------------
    def _file_reader(self, source: Source) -> None:
        i = 0
        try:
            while not self.stop_event.is_set():
                t = time.monotonic()
                ok, image = source.read()
                if not ok:
                    break
                frame = Frame(i, image, time.monotonic(), {"capture": 1e3 * (time.monotonic() - t)})
                i += 1
                while not self._put(self._frames_q, frame):
                    pass
        except BaseException as exc:  # surfaced in the caller's thread
            self.errors.append(exc)
        finally:
            self._put_end(self._frames_q)

    def _next_input(self) -> Frame | None:
        if self.reader is None:
            while True:
                try:
                    item = self._frames_q.get(timeout=0.1)
                    return None if item is _END else item
                except queue.Empty:
                    if self.stop_event.is_set():
                        return None
        while not self.stop_event.is_set():
            item = self.reader.take(timeout=0.1)
            if item is not None:
                image, t = item
                self._taken += 1
                return Frame(self._taken - 1, image, t, {"capture": 0.0})
            if self.reader.ended:
                return None
        return None

    # --- stage 2: resize + infer --------------------------------------------------------------
    def _infer_loop(self) -> None:
        h, w = self.runner.input_size
        try:
            while not self.stop_event.is_set():
                frame = self._next_input()
                if frame is None:
                    break
                t0 = time.monotonic()
                img = frame.image
                small = img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
                t1 = time.monotonic()
                frame.mask = self.runner.infer(small)
                t2 = time.monotonic()
                frame.timings.update(preprocess=1e3 * (t1 - t0), infer=1e3 * (t2 - t1))
                while not self._put(self._out_q, frame):
                    pass
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self._put_end(self._out_q)

    def _put(self, q: queue.Queue, item) -> bool:
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            return self.stop_event.is_set()

    def _put_end(self, q: queue.Queue) -> None:
        while True:
            try:
                q.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self.stop_event.is_set():
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass

    # --- stage 3: render (caller's thread) -----------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Start the threads and yield each processed frame (rendered when a renderer is set)."""
        self.source.open()
        live = self.source.live or self.opts.realtime
        src = _Paced(self.source, pace=self.opts.realtime and not self.source.live, loop=self.opts.loop)
        threads = []
        if live:
            self.reader = LatestReader(src, backoff=self.reader_backoff, max_retries=self.opts.reconnect_retries,
                                       reconnect=self.source.live).start()
        else:
            threads.append(threading.Thread(target=self._file_reader, args=(src,), name="capture", daemon=True))
        threads.append(threading.Thread(target=self._infer_loop, name="infer", daemon=True))
        for t in threads:
            t.start()
        self.stats = StreamStats()
        last, yielded = None, 0
        try:
            while True:
                item = self._out_q.get()
                if item is _END:
                    break
                frame: Frame = item
                t0 = time.monotonic()
                if self.renderer is not None:
                    frame.view = self.renderer.render(frame.image, frame.mask, self.hud(frame))
                frame.timings["render"] = 1e3 * (time.monotonic() - t0)
                if last is not None:
                    frame.timings["frame_interval"] = 1e3 * (t0 - last)
                last = t0
                yielded += 1
                yield frame
                # Counted on yield, so the cap holds whether or not the caller records frames.
                if self.opts.max_frames and yielded >= self.opts.max_frames:
                    break
        finally:
            self.stop_event.set()
            if self.reader is not None:
                self.reader.stop()  # closes the source
                self.stats.dropped, self.stats.reconnects = self.reader.dropped, self.reader.reconnects
            for t in threads:
                t.join(timeout=5.0)
            src.close()
            self.stats.finish()
        if self.errors:
            raise self.errors[0]

    def record(self, frame: Frame) -> float:
        """Count a frame as displayed now (after the sinks); returns its capture->display latency in ms."""
        latency = 1e3 * (time.monotonic() - frame.t_capture)
        self.stats.add(frame.timings, latency)
        if self.reader is not None:  # live counts, so periodic reports of endless runs see them
            self.stats.dropped, self.stats.reconnects = self.reader.dropped, self.reader.reconnects
        return latency

    def hud(self, frame: Frame) -> list[str]:
        return [f"{self.stats.recent_fps():5.1f} FPS  infer {frame.timings.get('infer', 0):.1f} ms",
                f"{self.runner.backend} {self.runner.precision}  dropped {self.reader.dropped if self.reader else 0}"]
