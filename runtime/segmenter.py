"""The Python API: ``Segmenter("model.onnx")(frame) -> mask`` and ``Segmenter.stream(source)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from unet_edge.core.shipped import resolve_model
from unet_edge.runtime.frame import Frame, at_size, to_bgr, to_model_size
from unet_edge.runtime.pipeline import Pipeline, StreamOptions
from unet_edge.runtime.render import Renderer
from unet_edge.runtime.runners import Runner, open_runner
from unet_edge.runtime.sources import Source, open_source


class Segmenter:
    """Loads an exported model (``.onnx`` or ``.engine`` plus its sidecar) and segments frames.

    >>> with Segmenter("model.onnx") as seg:  # the runner is active until close()
    ...     mask = seg(frame_bgr)               # uint8 class ids at the frame's size
    ...     for f in seg.stream("video.mp4"):   # frames with .mask and .timings, on pipelined threads
    ...         pass
    """

    def __init__(self, model: str | Path | Runner, provider: str = "cpu", threads: int | None = None,
                 input_size: tuple[int, int] | None = None, device: str | None = None,
                 precision: str | None = None) -> None:
        """``provider="openvino"`` runs an ``.onnx`` with OpenVINO on ``device`` (CPU | GPU | NPU | AUTO)
        at ``precision`` (f32 | bf16); see ``open_runner``. ``model`` may be an inactive runner already
        built (``run`` builds it while it checks its plan); the other arguments are then its own."""
        self.runner = model if isinstance(model, Runner) else open_runner(
            resolve_model(model), provider=provider, threads=threads, input_size=input_size, device=device,
            precision=precision)
        self.runner.activate()
        self.classes, self.palette = self.runner.classes, self.runner.palette
        # The given or fixed size; for a dynamic export given none, its export size, which each frame's
        # aspect reshapes (``runner.size_for``).
        self.input_size = tuple(self.runner.input_size)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Class ids (uint8) of a BGR frame of any size, at that size."""
        frame = to_bgr(frame)
        mask = self.runner.infer(to_model_size(frame, self.runner.fit_to(frame.shape[:2])))
        return at_size(mask, *frame.shape[:2])

    def pipeline(self, sources: str | Source | Sequence[str | Source], renderer: Renderer | None = None,
                 opts: StreamOptions | None = None) -> Pipeline:
        """A pipeline of this model over one source or several (``frame.stream`` says which)."""
        many = sources if isinstance(sources, (list, tuple)) else [sources]
        return Pipeline(self.runner, [open_source(s) if isinstance(s, str) else s for s in many], renderer, opts)

    def stream(self, source: str | Source, realtime: bool = False, max_frames: int | None = None,
               render: bool = False, **render_opts) -> Iterator[Frame]:
        """Yield frames (``.image``, ``.mask`` at model size, ``.view`` when ``render``, ``.timings``)."""
        yield from self.stream_many([source], realtime, max_frames, render, **render_opts)

    def stream_many(self, sources: Sequence[str | Source], realtime: bool = False, max_frames: int | None = None,
                    render: bool = False, max_batch: int = 8, **render_opts) -> Iterator[Frame]:
        """Frames of several sources through one runner (``frame.stream`` is the source's index);
        with a dynamic-batch model the frames that are ready together are inferred as one batch."""
        renderer = Renderer(self.classes, self.palette, **render_opts) if render else None
        pipe = self.pipeline(list(sources), renderer, StreamOptions(max_frames=max_frames, realtime=realtime,
                                                                    max_batch=max_batch))
        yield from pipe.frames()

    def close(self) -> None:
        """Free the runner; closing twice is harmless."""
        self.runner.deactivate()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
