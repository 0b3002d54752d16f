"""The runtime's fixtures, torch-free: the tiny ONNX model (built with ``onnx``) and clips and
images written with OpenCV. They replace the session model that the root conftest trains."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from .clips import CLIP_FRAMES, CLIP_SIZE, frame_image, write_clip


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """The tiny model: fixed 1x64x96 input, class ids from the frame's intensity."""
    pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
    from .tiny_model import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture(scope="session")
def dynamic_model(tmp_path_factory) -> Path:
    """The tiny model with batch, height and width free."""
    pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
    from .tiny_model import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-dyn") / "tiny.onnx", dynamic=True)


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 30 fps MP4 of 20 frames of 96x128."""
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", fps=30, frames=CLIP_FRAMES, size=CLIP_SIZE)


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    """A folder of 12 PNGs of 96x128, 000000.png to 000011.png."""
    out = tmp_path_factory.mktemp("images")
    for i in range(12):
        cv2.imwrite(str(out / f"{i:06d}.png"), frame_image(i, CLIP_SIZE))
    return out
