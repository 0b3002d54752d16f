"""Shared fixtures: small generated datasets and one tiny trained model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAMVID = Path(os.environ.get("UNET_EDGE_CAMVID", REPO.parent / "shared" / "data" / "camvid"))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """A synthetic dashcam dataset (folder layout) with a short clip, generated once."""
    from unet_edge.synth.writer import write_synth

    out = tmp_path_factory.mktemp("synth") / "data"
    write_synth(out, frames=160, size=(96, 128), seed=7, clip_frames=20, workers=2)
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synth_dir) -> Path:
    """A unet-lite trained briefly on the synthetic scenes (the run folder)."""
    from unet_edge.training import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(data=str(synth_dir), dataset="folder", arch="unet-lite", size=(64, 96), epochs=8,
                      batch=16, lr=4e-3, out=str(out), seed=1, workers=2, scale=(0.9, 1.3),
                      class_weights="none")
    train(cfg, log=lambda _m: None)
    return out


@pytest.fixture(scope="session")
def model(tmp_path_factory, trained_run) -> Path:
    """A plain FP32 export of the session model (fast; no INT8 calibration)."""
    from unet_edge.export.exporter import ExportOptions, export_model

    out = tmp_path_factory.mktemp("rt-model")
    export_model(trained_run / "best.pt", ExportOptions(out=out, verify=False), lambda _m: None)
    return out / "best.onnx"
