"""``unet-edge label`` on a real Ray (two CPUs, started once for the module and reused by the command): the
class maps and index equal ``run --save-masks``' on every frame, one and two workers write the same bytes, a
driver killed mid-run resumes with each frame once, a broken clip is a summary row, a missing extra one line."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.runtime.clips import frame_image, write_clip
from unet_edge.fleet.config import LabelConfig

pytest.importorskip("ray", reason="the fleet extra")
pytest.importorskip("av", reason="the fleet extra")
pq = pytest.importorskip("pyarrow.parquet", reason="the fleet extra")
pytest.importorskip("onnx", reason="the tiny test model is written with the onnx package")
pytestmark = pytest.mark.slow

TIMING = ("capture_time", "latency_ms")  # run's clock; null in label's lines
GOOD = {"day1/a.mp4": 12, "day1/b.mp4": 9, "c.mp4": 10, "d.mp4": 7, "cam": 5}


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray of two CPUs for the module; ``label`` reuses it, a subprocess joins it by address."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """4 clips (one of another size and rate), a folder of images, a truncated clip and the tiny model."""
    from tests.runtime.tiny_model import tiny_model

    root = tmp_path_factory.mktemp("fleet")
    src = root / "src"
    (src / "day1").mkdir(parents=True)
    write_clip(src / "day1" / "a.mp4", frames=12)
    write_clip(src / "day1" / "b.mp4", frames=9)
    write_clip(src / "c.mp4", frames=10, size=(120, 160))
    write_clip(src / "d.mp4", fps=25, frames=7)
    (src / "cam").mkdir()
    for i in range(5):
        cv2.imwrite(str(src / "cam" / f"{i:06d}.png"), frame_image(i))
    (src / "day1" / "broken.mp4").write_bytes((src / "c.mp4").read_bytes()[:1500])
    (root / "model").mkdir()
    tiny_model(root / "model" / "tiny.onnx")
    return root


def _label(fleet: Path, out: Path, workers: int = 1, sources=None) -> tuple[dict, str]:
    from unet_edge.fleet.label import label_fleet

    progress = io.StringIO()
    cfg = LabelConfig(model=fleet / "model" / "tiny.onnx", source=sources or [str(fleet / "src")], out=out,
                      workers=workers, progress_every=0.5)
    return label_fleet(cfg, log=lambda _m: None, progress_out=progress), progress.getvalue()


@pytest.fixture(scope="module")
def labelled(fleet, ray_address) -> tuple[Path, dict, str]:
    out = fleet / "out1"
    result, progress = _label(fleet, out, workers=1)
    return out, result, progress


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_frame_equals_run_save_masks_and_a_broken_clip_is_a_summary_row(fleet, labelled, tmp_path):
    from unet_edge.runtime.run import RunConfig, run_stream

    out, result, progress = labelled
    for name, frames in GOOD.items():
        ref = tmp_path / name
        run_stream(RunConfig(fleet / "model" / "tiny.onnx", str(fleet / "src" / name), save_masks=ref),
                   log=lambda _m: None)
        pngs = sorted(p.name for p in ref.glob("*.png"))
        assert len(pngs) == frames and sorted(p.name for p in (out / name).glob("*.png")) == pngs, name
        for png in pngs:
            assert (out / name / png).read_bytes() == (ref / png).read_bytes(), (name, png)
        theirs, ours = _lines(ref / "index.jsonl"), _lines(out / name / "index.jsonl")
        assert [{k: v for k, v in x.items() if k not in TIMING} for x in ours] == \
            [{k: v for k, v in x.items() if k not in TIMING} for x in theirs], name
        assert all(x[k] is None for x in ours for k in TIMING)
        assert (out / name / "done.json").is_file()
    table = pq.read_table(out / "summary.parquet").to_pylist()
    rows = {r["video"]: r for r in table}
    assert set(rows) == {*GOOD, "day1/broken.mp4"}
    assert {v: rows[v]["frames"] for v in GOOD} == GOOD and all(rows[v]["failure"] is None for v in GOOD)
    broken = rows["day1/broken.mp4"]
    assert broken["frames"] == 0 and "moov atom not found" in broken["failure"]
    assert not (out / "day1" / "broken.mp4" / "done.json").exists()
    assert abs(sum(v for k, v in rows["cam"].items() if k.startswith("share_")) - 1) < 1e-4
    assert (result["labelled"], result["failed"], result["frames"]) == (5, 1, sum(GOOD.values()))
    assert sum(result["actors"].values()) == sum(GOOD.values())
    assert progress.splitlines()[-1].startswith("label: 6/6 videos (1 failed), 43 frames")


def test_one_and_two_workers_write_the_same_bytes(fleet, labelled):
    out1 = labelled[0]
    out2 = fleet / "out2"
    result, _ = _label(fleet, out2, workers=2)
    one, two = _files(out1), _files(out2)
    one.pop("summary.parquet"), two.pop("summary.parquet")
    assert one.keys() == two.keys() and all(one[k] == two[k] for k in one)
    timed = ("wall_s", "fps")
    rows = [[{k: v for k, v in r.items() if k not in timed} for r in pq.read_table(o / "summary.parquet").to_pylist()]
            for o in (out1, out2)]
    assert rows[0] == rows[1]
    # a rerun finds every video done, and labels only the broken one again
    again, _ = _label(fleet, out2, workers=2)
    assert (again["done_before"], again["failed"], again["frames"]) == (5, 1, 0)
    assert _files(out2).keys() == {*one, "summary.parquet"}


def test_a_driver_killed_mid_run_resumes_with_each_frame_once(fleet, labelled, ray_address, tmp_path):
    long = tmp_path / "long"
    long.mkdir()
    write_clip(long / "long.mp4", frames=240)
    out = tmp_path / "out"
    sources = [str(fleet / "src"), str(long)]
    argv = [sys.executable, "-m", "unet_edge", "label", "--model", str(fleet / "model" / "tiny.onnx"), "--source",
            sources[0], "--source", sources[1], "--out", str(out), "--ray-address", ray_address]
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while not list(out.glob("**/0_*.png")) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        driver.send_signal(signal.SIGKILL)  # mid-run: the first class map is written
        driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL, (tmp_path / "driver.log").read_text()
    assert not (out / "long.mp4" / "done.json").exists()  # so the rerun has something to resume
    result, _ = _label(fleet, out, workers=1, sources=sources)
    assert result["labelled"] + result["done_before"] == 6
    lines = _lines(out / "long.mp4" / "index.jsonl")
    assert [x["index"] for x in lines] == list(range(240))  # every frame, once
    assert len(list((out / "long.mp4").glob("*.png"))) == 240
    first = _files(labelled[0])
    again = {k: v for k, v in _files(out).items() if not k.startswith("long.mp4/")}
    first.pop("summary.parquet"), again.pop("summary.parquet")
    assert again == first  # the other videos: the same bytes as a run never killed
    assert not list(out.rglob("*.tmp"))


def test_a_missing_extra_is_one_line_naming_it(fleet, tmp_path):
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'ray' or name.startswith('ray.'):\n"
               "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "from unet_edge.cli import main\n"
               "main(sys.argv[1:])\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", blocker, "label", "--model", str(fleet / "model" / "tiny.onnx"),
                           "--source", str(fleet / "src"), "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0] == ("unet-edge: error: ray is not installed (unet-edge label: a fleet's recordings on Ray Data); "
                        "install it with: pip install 'unet-edge[fleet]'")
    assert not out.exists()
