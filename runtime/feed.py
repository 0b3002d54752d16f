"""One source's frames for the pipeline, whichever way they are read: ``Feed``.

Live sources (and files with ``realtime``, played by ``runtime/paced.py``) go through the
newest-frame reader of ``runtime/latest.py``; files otherwise deliver every frame through a small
bounded queue, read on their own thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from unet_edge.runtime.frame import Frame
from unet_edge.runtime.latest import LatestReader
from unet_edge.runtime.paced import Paced
from unet_edge.runtime.sources import Source

_END = object()


class Feed:
    """One source's frames for the infer loop, taken without blocking; ``notify`` is called
    whenever a frame (or the end) arrives, so one loop can wait on many feeds."""

    def __init__(self, stream: int, source: Source, opts, notify: Callable[[], None]) -> None:
        """``opts``: the pipeline's StreamOptions (frames, looping, pacing, queue, reconnects)."""
        self.stream, self.source, self.max_frames, self.notify = stream, source, opts.max_frames, notify
        self.newest_only = source.live or opts.realtime  # drops what the model cannot keep up with
        # a camera is read as it is; a file through Paced, which plays it at its fps and loops it where asked
        self.reading: Source = source if source.live else Paced(source, pace=opts.realtime, loop=opts.loop)
        self.backoff, self.max_retries = opts.reconnect_backoff, opts.reconnect_retries
        queue_size = opts.queue_size
        self.reader: LatestReader | None = None
        self.taken, self.ended = 0, False
        self._q: queue.Queue = queue.Queue(maxsize=queue_size + 2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.ended or (self.max_frames is not None and self.taken >= self.max_frames)

    @property
    def dropped(self) -> int:
        return self.reader.dropped if self.reader else 0

    @property
    def reconnects(self) -> int:
        return self.reader.reconnects if self.reader else 0

    def start(self) -> Feed:
        self.source.open()
        if self.newest_only:
            self.reader = LatestReader(self.reading, backoff=self.backoff, max_retries=self.max_retries,
                                       reconnect=self.source.live, on_frame=self.notify).start()
        else:
            self._thread = threading.Thread(target=self._read_file, name=f"capture-{self.stream}", daemon=True)
            self._thread.start()
        return self

    def _read_file(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                t = time.monotonic()
                ok, image = self.reading.read()
                if not ok:
                    break
                frame = Frame(i, image, time.monotonic(), {"capture": 1e3 * (time.monotonic() - t)}, stream=self.stream)
                i += 1
                self._put(frame)
        except BaseException as exc:  # surfaced in the infer loop
            self.error = exc
        finally:
            self._put(_END)

    def _put(self, item) -> None:
        """Queue ``item`` (waiting while the infer loop is behind, unless stopped) and say so."""
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        self.notify()

    def take(self) -> Frame | None:
        """The next frame (file) or the newest one (live) if one is ready; never blocks."""
        if self.done:
            return None
        if self.reader is not None:
            item = self.reader.take(timeout=0)
            if item is None:
                self.ended = self.reader.ended
                return None
            self.taken += 1
            return Frame(self.taken - 1, item[0], item[1], {"capture": item[2]}, stream=self.stream)
        try:
            item = self._q.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self.ended = True
            if self.error is not None:
                raise self.error
            return None
        self.taken += 1
        return item

    def stop(self) -> None:
        self._stop.set()
        if self.reader is not None:
            self.reader.stop()  # closes the source
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.reading.close()
