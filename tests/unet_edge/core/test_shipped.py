"""The shipped model: its name resolves (an existing path wins), its file matches its card (sha256 and
contract), what is derived from it goes to the user cache, and the card's figures are reproduced by
``unet-edge eval`` on CamVid val where the data is here."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import CAMVID
from unet_edge.core.errors import ConfigError
from unet_edge.core.shipped import SHIPPED, SHIPPED_DIR, derived_dir, is_shipped, resolve_model, user_cache

NAME = "camvid-lite0"
FILE = SHIPPED_DIR / SHIPPED[NAME]
needs_file = pytest.mark.skipif(not FILE.is_file(), reason=f"{FILE} is not built: make camvid-lite0")


def card() -> dict:
    text = (SHIPPED_DIR / f"{NAME}.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))


@needs_file
def test_the_name_is_the_shipped_file_and_says_so_and_an_existing_path_wins(tmp_path, monkeypatch):
    said = []
    assert resolve_model(NAME, said.append) == FILE and str(FILE) in said[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).write_bytes(b"mine")
    assert resolve_model(NAME).resolve() == (tmp_path / NAME).resolve()
    with pytest.raises(ConfigError, match="--model camvid-lite1: model file not found.*did you mean camvid-lite0"):
        resolve_model("camvid-lite1")  # anything else names the shipped models


@needs_file
def test_the_shipped_file_matches_its_card():
    from unet_edge.core.artifact import load_meta

    c = card()
    assert hashlib.sha256(FILE.read_bytes()).hexdigest() == c["sha256"]
    meta = load_meta(FILE).to_dict()  # the contract is inside the file: no sidecar ships
    assert not FILE.with_name(FILE.name + ".json").exists()
    for key, value in c["contract"].items():
        assert meta[key] == value, key
    assert meta["input"]["shape"][1:3] == ["H", "W"] and meta["train_input_size"] == [352, 480]
    assert meta["dynamic"] and meta["input"]["multiple_of"] == 32 and len(meta["classes"]) == 11


def test_what_is_derived_from_a_shipped_model_goes_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert derived_dir(FILE) == tmp_path / "cache" / "unet-edge" / "shipped" / FILE.stem
    assert user_cache() == tmp_path / "cache" / "unet-edge"
    mine = tmp_path / "best.onnx"
    assert derived_dir(mine) == tmp_path and not is_shipped(mine)


@needs_file
def test_segmenter_and_run_take_the_name(tmp_path):
    import cv2

    from unet_edge.runtime.segmenter import Segmenter

    frame = np.zeros((270, 480, 3), np.uint8)
    frame[150:] = (128, 64, 128)
    with Segmenter(NAME) as seg:
        assert seg(frame).shape == (270, 480) and seg.runner.path == FILE
        assert seg.runner.size_for(frame.shape[:2]) == (320, 544)  # 16:9 at its own aspect (aspect_size)
        assert seg(np.zeros((360, 480, 3), np.uint8)).shape == (360, 480)
        assert seg.runner.size_for((360, 480)) == seg.input_size == (352, 480)
    clip = tmp_path / "clip.mp4"
    out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (480, 270))
    for _ in range(3):
        out.write(frame)
    out.release()
    done = subprocess.run([sys.executable, "-m", "unet_edge", "run", "--model", NAME, "--source", str(clip),
                           "--save", str(tmp_path / "out.mp4")], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{NAME}: the shipped model {FILE}" in done.stdout
    assert "stream 0: input 320x544, 480x270 footage at the model's 352x480 pixel count" in done.stdout
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 3


@needs_file
def test_a_read_only_install_runs_the_shipped_model(tmp_path, monkeypatch):
    import shutil

    import unet_edge.core.shipped as shipped
    from unet_edge.runtime.run import RunConfig, run_stream

    folder = tmp_path / "site" / "shipped"
    folder.mkdir(parents=True)
    shutil.copy2(FILE, folder / FILE.name)
    folder.chmod(0o555)
    (folder / FILE.name).chmod(0o444)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        summary = run_stream(RunConfig(NAME, "synth://?size=120x160", save=str(tmp_path / "o.mp4"), max_frames=4,
                                       hud=False), log=lambda _m: None)
        # (as root, CI's user, the mode does not stop writes: nothing new in the folder is the check)
        assert summary["frames"] == 4 and sorted(p.name for p in folder.iterdir()) == [FILE.name]
    finally:
        folder.chmod(0o755)


@needs_file
@pytest.mark.camvid
@pytest.mark.slow
@pytest.mark.skipif(not (CAMVID / "val").is_dir(), reason=f"needs CamVid in {CAMVID}")
def test_eval_reproduces_the_cards_val_figures(tmp_path):
    out = tmp_path / "eval.json"
    done = subprocess.run([sys.executable, "-m", "unet_edge", "eval", "--model", NAME, "--data", str(CAMVID),
                           "--dataset", "camvid", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got, want = json.loads(out.read_text())["scores"], card()["val"]
    assert abs(got["miou"] - want["miou"]) <= 0.001, (got["miou"], want["miou"])
    for name, iou in want["iou"].items():
        assert iou is None or abs(got["iou"][name] - iou) <= 0.001, name
