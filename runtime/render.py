"""Mask overlay with lookup tables and OpenCV only: colourise, resize (nearest), blend, HUD, legend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from unet_edge.core.errors import ConfigError
from unet_edge.core.viz import legend as legend_strip
from unet_edge.core.viz import palette_lut

VIEWS = ("overlay", "mask", "side", "confidence")
UNKNOWN = 255  # class id of pixels below --min-confidence; drawn in a grey that no class uses
GREYS = ((96, 96, 96), (160, 160, 160), (112, 112, 112), (176, 176, 176), (80, 80, 80))


def unknown_grey(palette: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """A grey (RGB) that is not in ``palette`` (CamVid's Sky is already 128,128,128)."""
    used = {tuple(int(v) for v in c) for c in palette}
    return next(g for g in GREYS if g not in used)


@dataclass(frozen=True)
class Status:
    """What the HUD shows about a frame; ``Renderer.hud_lines`` turns it into text."""

    fps: float  # the stream's recent display rate
    infer_ms: float
    backend: str
    precision: str
    dropped: int
    stream: int | None = None  # named when several sources share the view


class Renderer:
    """Turns (frame, mask) into the displayed image. Tables are built once; per frame it is two
    table lookups, one nearest resize and one weighted add."""

    def __init__(self, classes: Sequence[str], palette: Sequence[Sequence[int]], view: str = "overlay",
                 alpha: float = 0.5, legend: bool = False, hud: bool = True, min_confidence: float = 0.0) -> None:
        if view not in VIEWS:
            raise ConfigError(f"unknown view '{view}'; choose {', '.join(VIEWS)}")
        self.classes, self.palette = list(classes), list(palette)
        self.view, self.alpha, self.show_legend, self.hud = view, float(np.clip(alpha, 0, 1)), legend, hud
        if not 0.0 <= min_confidence <= 1.0:
            raise ConfigError(f"--min-confidence {min_confidence:g}: give a probability between 0 and 1")
        self.min_conf = int(round(255 * min_confidence))
        lut = palette_lut(palette)
        lut[UNKNOWN] = unknown_grey(palette)[::-1]
        self.lut = lut.reshape(256, 1, 3)  # cv2.LUT wants a 256-entry, 3-channel table
        self._legend: np.ndarray | None = None

    def colorize(self, mask: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Class ids -> BGR colours, resized (nearest) to ``size`` = (w, h) when given."""
        if size is not None and (mask.shape[1], mask.shape[0]) != size:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        return cv2.LUT(cv2.merge((mask, mask, mask)), self.lut)

    @staticmethod
    def hud_lines(status: Status) -> list[str]:
        head = "" if status.stream is None else f"[{status.stream}] "
        return [f"{head}{status.fps:5.1f} FPS  infer {status.infer_ms:.1f} ms",
                f"{status.backend} {status.precision}  dropped {status.dropped}"]

    def render(self, frame: np.ndarray, mask: np.ndarray, status: Status | None = None,
               confidence: np.ndarray | None = None) -> np.ndarray:
        """The view of one frame, with the HUD of ``status`` when given. With ``confidence`` (uint8,
        255 = certain), pixels below ``min_confidence`` are painted as unknown, and the
        ``confidence`` view is its heat map."""
        h, w = frame.shape[:2]
        if self.view == "confidence":
            if confidence is None:
                raise ConfigError("--view confidence needs a model exported with --confidence")
            conf = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
            color = cv2.applyColorMap(conf, cv2.COLORMAP_INFERNO)
        else:
            if confidence is not None and self.min_conf:
                mask = np.where(confidence < self.min_conf, np.uint8(UNKNOWN), mask)
            color = self.colorize(mask, (w, h))
        if self.view == "overlay":
            out = cv2.addWeighted(frame, 1.0 - self.alpha, color, self.alpha, 0.0)
        elif self.view in ("mask", "confidence"):
            out = color
        else:
            out = np.hstack((frame, color))
        if self.hud and status is not None:
            draw_hud(out, self.hud_lines(status))
        if self.show_legend:
            out = np.vstack((out, self.legend(out.shape[1])))
        return out

    def legend(self, width: int) -> np.ndarray:
        if self._legend is None or self._legend.shape[1] != width:
            self._legend = legend_strip(self.classes, self.palette, width)
        return self._legend


def draw_hud(img: np.ndarray, lines: Sequence[str]) -> None:
    """Text in the top-left corner on a dark box, drawn in place."""
    scale, thick, pad, step = 0.45, 1, 4, 16
    width = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] for s in lines)
    x1, y1 = min(img.shape[1] - 1, width + 2 * pad), min(img.shape[0] - 1, len(lines) * step + pad)
    roi = img[:y1, :x1]
    roi[:] = (roi * 0.35).astype(np.uint8)
    for i, s in enumerate(lines):
        cv2.putText(img, s, (pad, (i + 1) * step - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
