"""The parts of ``unet-edge label`` that need no Ray: which jobs the sources name, the actors' resources,
--out's resume state, one video's tally, the progress line and the decode stage on its own."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.runtime.clips import frame_image, write_clip
from unet_edge.core.errors import ConfigError
from unet_edge.fleet.actors import actor_spec
from unet_edge.fleet.progress import Progress, clock_text
from unet_edge.fleet.resume import MARKER, STAMP, check_out, done_marker, finish_video, stamp, start_out
from unet_edge.fleet.sources import Job, list_jobs
from unet_edge.fleet.summary import VideoTally


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_folder_a_glob_and_a_list_name_every_video_and_image_folder(tmp_path):
    src = tmp_path / "fleet"
    for rel in ("car1/day1.mp4", "car1/day1.avi", "car2/2024/day9.MKV", "cam/000001.png", "cam/000000.png",
                "car1/.hidden.mp4", ".cache/x.mp4", "notes.txt"):
        _touch(src / rel)
    jobs = list_jobs([str(src)])
    assert [(j.name, j.kind) for j in jobs] == [("cam", "images"), ("car1/day1.avi", "video"),
                                                ("car1/day1.mp4", "video"), ("car2/2024/day9.MKV", "video")]
    assert [p.rsplit("/", 1)[1] for p in jobs[0].files] == ["000000.png", "000001.png"]  # run's order
    assert [j.name for j in list_jobs([f"{src}/car*/*.mp4"])] == ["car1/day1.mp4"]
    assert [j.name for j in list_jobs([f"{src}/**/*.MKV"])] == ["car2/2024/day9.MKV"]
    listing = _touch(tmp_path / "drives.txt", b"# two drives\nfleet/car1/day1.mp4\n\nfleet/cam  # a camera\n")
    assert [j.name for j in list_jobs([str(listing)])] == ["fleet/car1/day1.mp4", "fleet/cam"]
    # a list and the folder it names: each video once
    assert len(list_jobs([str(src), str(src / "car1" / "day1.mp4")])) == 4


def test_sources_that_name_nothing_or_clash_are_one_line(tmp_path):
    _touch(tmp_path / "a" / "drive.mp4")
    _touch(tmp_path / "b" / "drive.mp4")
    with pytest.raises(ConfigError, match="would both be labelled in --out's drive.mp4/"):
        list_jobs([str(tmp_path / "a"), str(tmp_path / "b")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no video"):
        list_jobs([str(tmp_path / "empty")])
    _touch(tmp_path / "list.txt", b"a/drive.mp4\nmissing.mp4\n")
    with pytest.raises(ConfigError, match="line 2: missing.mp4: no such file"):
        list_jobs([str(tmp_path / "list.txt")])


def test_actor_resources_cpu_threads_and_a_gpu_each(tmp_path):
    onnx, engine = tmp_path / "m.onnx", tmp_path / "m.engine"
    cpu = actor_spec("cpu", 2, 16.0, 0.0, onnx)
    assert (cpu.threads, cpu.num_cpus, cpu.num_gpus) == (8, 8.0, 0.0)
    assert cpu.ray_options() == {"num_cpus": 8.0}
    assert actor_spec("openvino", 3, 16.0, 0.0, onnx).threads == 5
    for provider in ("cuda", "tensorrt"):
        gpu = actor_spec(provider, 4, 32.0, 4.0, onnx)
        assert (gpu.threads, gpu.num_gpus, gpu.provider) == (8, 1.0, provider)
        assert gpu.ray_options() == {"num_cpus": 1.0, "num_gpus": 1.0}  # the other cores decode and write
    assert actor_spec("cpu", 1, 8.0, 1.0, engine).num_gpus == 1.0  # a TensorRT engine runs on a GPU
    with pytest.raises(ConfigError, match="--workers 3: --provider cuda gives each worker a GPU, and this Ray "
                                          "cluster has 2"):
        actor_spec("cuda", 3, 8.0, 2.0, onnx)
    with pytest.raises(ConfigError, match="--workers 5: this Ray cluster has 4 CPUs"):
        actor_spec("cpu", 5, 4.0, 0.0, onnx)


def test_out_is_refused_when_it_holds_something_else_and_resumes_its_own(tmp_path):
    settings = stamp(tmp_path / "m.onnx", "ab" * 32, 2, None, ["Road", "Car"])
    out = tmp_path / "out"
    check_out(out, settings)  # new: fine, and not created by the check
    assert not out.exists()
    start_out(out, settings)
    check_out(out, settings)  # its own labels: resumed
    with pytest.raises(ConfigError, match="--every 2, not m.onnx"):
        check_out(out, dict(settings, every=1))
    _touch(tmp_path / "thesis" / "ch1.tex")
    with pytest.raises(ConfigError, match="not empty, and no label.json"):
        check_out(tmp_path / "thesis", settings)
    with pytest.raises(ConfigError, match="is a file"):
        check_out(tmp_path / "thesis" / "ch1.tex", settings)
    job = Job("car1/day1.mp4", str(tmp_path / "day1.mp4"), "video")
    assert done_marker(out, job) is None
    finish_video(out, job, ['{"index": 0}', '{"index": 3}'], {"video": job.name, "frames": 2, "wall_s": 1.0})
    marker = done_marker(out, job)
    assert marker["frames"] == 2 and "wall_s" not in marker["row"]  # no clock: the same bytes every run
    assert json.loads((out / STAMP).read_text())["every"] == 2
    (out / job.name / "index.jsonl").write_text('{"index": 0}\n')  # an index that is not the marker's
    assert done_marker(out, job) is None
    (out / job.name / MARKER).write_text("{")
    assert done_marker(out, job) is None


def test_a_frame_that_comes_back_twice_is_kept_once():
    tally = VideoTally(Job("v.mp4", "/v.mp4", "video"), 3)
    mask = np.array([[0, 1], [1, 2]], np.uint8)
    counts = np.bincount(mask.ravel(), minlength=3)
    for index in (2, 0, 2):  # a retried task sends frame 2 again
        tally.add(index, f'{{"index": {index}}}', counts, mask.size, "node:1", 100.0)
    assert not tally.complete
    tally.end(2, "", 100.0)
    assert tally.complete and tally.ordered_lines() == ['{"index": 0}', '{"index": 2}']
    row = tally.row(["Sky", "Road", "Car"], now=102.0)
    assert row["shares"] == {"Sky": 0.25, "Road": 0.5, "Car": 0.25}
    assert (row["frames"], row["failure"], row["wall_s"], row["fps"]) == (2, None, 2.0, 1.0)
    short = VideoTally(Job("w.mp4", "/w.mp4", "video"), 3)
    short.end(4, "", 100.0)
    assert short.row(["a", "b", "c"], now=101.0)["failure"] == "incomplete: 0 of 4 frames"


def test_progress_is_a_line_every_n_seconds_off_a_terminal():
    now = [0.0]
    out = io.StringIO()
    progress = Progress(videos=4, frames=400, every=10.0, done=1, out=out, clock=lambda: now[0])
    now[0] = 2.0
    progress.add_frames(8)  # the first frames: the rate counts from their arrival, without them
    progress.tick()
    assert out.getvalue() == ""  # not due
    progress.add_frames(50)
    now[0], _ = 12.0, progress.video_done()
    progress.add_frames(50)
    progress.tick()
    assert out.getvalue() == "label: 2/4 videos, 108 frames, 10.0 fps, ETA 29s\n"
    now[0] = 12.5
    progress.tick()
    assert out.getvalue().count("\n") == 1  # the next one is due at 22 s
    assert clock_text(75) == "1m15s" and clock_text(3725) == "1h02m"


def test_decode_reads_every_nth_frame_as_run_names_it_and_a_broken_clip_is_its_end_row(tmp_path):
    pytest.importorskip("av", reason="the fleet extra")
    from unet_edge.fleet.decode import END, decode_job

    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    batches = list(decode_job("clip.mp4", "video", str(clip), [], every=3, chunk=2))
    frames = [(int(i), str(n), float(ms)) for b in batches[:-1] for i, n, ms in
              zip(b["index"], b["name"], b["source_ms"])]
    assert frames == [(0, "0_00000000", 0.0), (3, "0_00000003", 100.0), (6, "0_00000006", 200.0),
                      (9, "0_00000009", 300.0)]
    end = batches[-1]
    assert (int(end["index"][0]), bool(end["last"][0]), int(end["frames"][0]), str(end["failure"][0])) == \
        (END, True, 4, "")
    broken = _touch(tmp_path / "broken.mp4", clip.read_bytes()[:1500])
    (only,) = list(decode_job("broken.mp4", "video", str(broken), [], every=1, chunk=8))
    assert int(only["frames"][0]) == 0 and "moov atom not found" in str(only["failure"][0])
    import cv2

    images = tmp_path / "cam"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i:06d}.png"), frame_image(i))
    _touch(images / "000001b.png", b"not a png")  # skipped and not counted, as run does
    files = sorted(str(p) for p in images.iterdir())
    batches = list(decode_job("cam", "images", str(images), files, every=1, chunk=8))
    assert [str(n) for n in batches[0]["name"]] == ["000000", "000001", "000002"]
    assert np.isnan(batches[0]["source_ms"]).all()
