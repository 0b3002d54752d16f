from dataclasses import replace

import numpy as np
import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.runtime.render import Renderer, Status

CLASSES = ["a", "b", "c"]
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]  # RGB


def test_colorize_maps_ids_to_bgr_palette_and_resizes_nearest():
    r = Renderer(CLASSES, PALETTE)
    mask = np.array([[0, 1], [2, 0]], np.uint8)
    color = r.colorize(mask, (4, 4))
    assert color.shape == (4, 4, 3)
    assert tuple(color[0, 0]) == (0, 0, 255) and tuple(color[0, 3]) == (0, 255, 0) and tuple(color[3, 0]) == (255, 0, 0)


def test_views_and_legend():
    frame = np.full((40, 60, 3), 100, np.uint8)
    mask = np.ones((20, 30), np.uint8)
    assert Renderer(CLASSES, PALETTE, "overlay", hud=False).render(frame, mask).shape == (40, 60, 3)
    assert Renderer(CLASSES, PALETTE, "side", hud=False).render(frame, mask).shape == (40, 120, 3)
    only = Renderer(CLASSES, PALETTE, "mask", hud=False).render(frame, mask)
    assert tuple(only[5, 5]) == (0, 255, 0)
    tall = Renderer(CLASSES, PALETTE, legend=True, hud=False).render(frame, mask)
    assert tall.shape[0] > 40 and tall.shape[1] == 60


def test_alpha_blends_frame_and_colour():
    frame = np.zeros((10, 10, 3), np.uint8)
    out = Renderer(CLASSES, PALETTE, alpha=0.5, hud=False).render(frame, np.ones((10, 10), np.uint8))
    assert abs(int(out[5, 5, 1]) - 128) <= 1 and out[5, 5, 0] == 0


def test_hud_draws_text_and_unknown_view_is_rejected():
    frame = np.zeros((60, 200, 3), np.uint8)
    status = Status(fps=12.0, infer_ms=3.26, backend="onnxruntime", precision="int8", dropped=4, stream=1)
    assert Renderer.hud_lines(status) == ["[1]  12.0 FPS  infer 3.3 ms", "onnxruntime int8  dropped 4"]
    assert Renderer.hud_lines(replace(status, stream=None))[0] == " 12.0 FPS  infer 3.3 ms"
    out = Renderer(CLASSES, PALETTE, alpha=0.0).render(frame, np.zeros((60, 200), np.uint8), status)
    assert out[:20].max() > 200
    with pytest.raises(ConfigError, match="unknown view"):
        Renderer(CLASSES, PALETTE, view="heatmap")


def test_window_sink_without_a_display_or_gui_says_what_to_do(monkeypatch):
    from unet_edge.core.errors import SinkError
    from unet_edge.runtime.sinks import WindowSink

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SinkError, match="use --serve"):
        WindowSink()


def test_show_tiles_several_streams_in_a_grid():
    import numpy as np

    from unet_edge.runtime.sinks import tile

    a, b = np.full((30, 40, 3), 50, np.uint8), np.full((30, 40, 3), 200, np.uint8)
    grid = tile([a, None, b], width=80)
    assert grid.shape == (2 * 60, 2 * 80, 3)  # 2x2 cells of 80x60, the empty ones black
    assert grid[0:60, 0:80].mean() == 50 and grid[0:60, 80:].max() == 0 and grid[60:, 0:80].mean() == 200
