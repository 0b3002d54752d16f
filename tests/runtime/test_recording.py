"""Recording: segments that survive SIGKILL, SIGTERM finalizing, --keep, a full disk, bad values."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from unet_edge.core.errors import SinkError
from unet_edge.runtime.recording import SEGMENT_GLOB, WallClock, parse_save, prepare_save
from unet_edge.runtime.run import RunConfig, run_stream
from unet_edge.runtime.sinks import Sink
from unet_edge.runtime.sources import Source, open_source, register_source

from .cameras import FlakyCamera

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "unet_edge"]


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _start(model, source: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "run", "--model", str(model), "--source", source, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkill_mid_segment_leaves_every_finished_segment_playable(model, clip, tmp_path):
    rec = tmp_path / "rec"
    # the 30 fps clip, looped: every segment holds round(0.2 x 30) = 6 frames of the output video
    proc = _start(model, str(clip), "--loop", "--save", f"{rec}/", "--segment", "0.2")
    _wait_for(lambda: len(list(rec.glob(SEGMENT_GLOB))) >= 4)
    os.kill(proc.pid, signal.SIGKILL)  # a power cut: no handler runs
    proc.wait(timeout=30)
    finished = sorted(rec.glob(SEGMENT_GLOB))
    assert len(finished) >= 4
    assert [frame_count(p) for p in finished] == [6] * len(finished)
    assert all(p.name.split("_")[1] == f"{i:04d}.mp4" for i, p in enumerate(finished))
    partial = [p for p in rec.iterdir() if p not in finished]
    assert all(p.name.startswith(".") and "partial" in p.name for p in partial)  # only the one being written


def test_sigterm_finalizes_like_ctrl_c(model, tmp_path):
    out = tmp_path / "live.mp4"
    proc = _start(model, "synth://?size=96x128", "--save", str(out))
    partial = tmp_path / ".live.partial.mp4"
    _wait_for(partial.exists)
    time.sleep(1.0)  # a few more frames
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert "finalized after interrupt" in stdout and frame_count(out) > 3 and not partial.exists()


def test_keep_holds_only_the_newest_segments(model, clip, tmp_path):
    rec = tmp_path / "rec"
    proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", str(clip), "--loop",
                           "--max-frames", "60", "--save", f"{rec}/", "--segment", "0.1", "--keep", "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kept = sorted(rec.glob(SEGMENT_GLOB))
    assert [p.name.split("_")[1] for p in kept] == ["0017.mp4", "0018.mp4", "0019.mp4"]  # 60 frames / 3 each
    assert [frame_count(p) for p in kept] == [3, 3, 3] and "20 segments" in proc.stdout


def _tmpfs(path: Path, size_mb: int) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_disk_ends_the_run_in_one_line_and_keeps_finished_segments(model, clip, tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, 12):
        pytest.skip("a small real filesystem needs 'mount -t tmpfs' (root with CAP_SYS_ADMIN), not available here")
    try:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - (8 << 20) - (300 << 10)))  # ~300 KB above the reserve
        proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", str(clip),
                               "--loop", "--save", f"{disk}/rec/", "--segment", "0.1"],
                              capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and "disk full" in lines[0], proc.stderr
        finished = sorted((disk / "rec").glob(SEGMENT_GLOB))
        assert finished and all(frame_count(p) in (1, 2, 3) for p in finished)
        assert all(frame_count(p) == 3 for p in finished[:-1])  # the last was finalized early, when space ran out
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.parametrize("args,expect", [
    (["--save", "out.mp4", "--segment", "5"], "--segment writes a folder of files: give --save DIR/"),
    (["--save", "rec/"], "a folder takes --segment SECONDS"),
    (["--save", "rec/", "--segment", "0"], "--segment 0: must be above 0"),
    (["--save", "rec/", "--segment", "-3"], "--segment -3"),
    (["--save", "rec/", "--segment", "abc"], "Invalid value for '--segment'"),
    (["--save", "out.mp4", "--keep", "3"], "--keep needs --segment"),
    (["--save", "rec/", "--segment", "5", "--keep", "0"], "--keep 0: must be at least 1"),
    (["--save", "out.txt"], "unknown video type '.txt'"),
    (["--segment", "5"], "--segment 5: needs --save"),
    (["--serve", "127.0.0.1:99999"], "port 99999 is outside 0-65535"),
    (["--serve", "host:abc"], "expected HOST:PORT or PORT"),
    (["--stats-every", "0"], "--stats-every 0: must be above 0"),
    (["--serve", "0", "--serve-token", " "], "--serve-token: give a non-empty token"),
])
def test_bad_values_are_one_line_errors(model, tmp_path, args, expect):
    proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", "synth://", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode in (1, 2) and len(lines) == 1 and expect in lines[0], proc.stderr
    assert not list(tmp_path.glob("*.mp4"))


def test_save_spec_grammar(tmp_path):
    assert parse_save(str(tmp_path / "a.mp4")).segment is None
    spec = parse_save(f"{tmp_path}/rec/", 60, 10)
    assert spec.path == tmp_path / "rec" and spec.segment == 60 and spec.keep == 10
    assert not spec.path.exists()  # nothing is written while the plan is checked
    prepare_save(spec)
    assert spec.path.is_dir()
    with pytest.raises(SinkError, match="cannot write in /proc/nope/rec"):
        prepare_save(parse_save("/proc/nope/rec/", 5))


@pytest.mark.parametrize("save", ["/proc/out.mp4", "/proc/x/out.mp4", "/sys/rec/"])
def test_an_unwritable_output_folder_is_one_line_before_the_first_frame(model, tmp_path, save):
    args = ["--segment", "1"] if save.endswith("/") else []
    proc = subprocess.run([*CLI, "run", "--model", str(model), "--source", "synth://", "--save", save, *args],
                          capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "cannot write in" in lines[0], proc.stderr
    assert "streaming" not in proc.stdout  # found before the model streamed anything


def test_a_folder_removed_during_the_run_is_one_sink_error(model, clip, tmp_path):
    out = tmp_path / "gone" / "out.mp4"

    class Vanishing(Source):  # a file source whose output folder is deleted mid-run
        name = "vanishing"

        def __init__(self) -> None:
            self.inner, self.n = open_source(str(clip)), 0

        def open(self) -> None:
            self.inner.open()

        def read(self):
            # Once the recording has begun (the capture thread can run ahead of the first write, and a
            # writer made after the removal would just make the folder again).
            self.n += 1
            if self.n >= 5 and out.parent.is_dir() and any(out.parent.glob(".out.partial*")):
                shutil.rmtree(out.parent)
            elif self.n >= 5 and out.parent.is_dir():
                time.sleep(0.01)
            return self.inner.read()

    register_source("vanishing", lambda uri: Vanishing())
    with pytest.raises(SinkError, match="out.mp4: cannot finalize the video"):
        run_stream(RunConfig(model, "vanishing://", save=out), log=lambda _m: None)


@pytest.mark.parametrize("segment", [None, 0.5])
def test_a_live_recording_plays_for_as_long_as_it_took(model, tmp_path, segment):
    """A camera that claims 30 fps but delivers 10: the video keeps the wall clock, not 3x speed."""
    register_source("slowcam", lambda uri: FlakyCamera(fps=10, outages=0, nominal=30, shape=(96, 128, 3)))
    save = tmp_path / "rec" if segment else tmp_path / "out.mp4"
    t0 = time.monotonic()
    run_stream(RunConfig(model, "slowcam://", save=f"{save}/" if segment else save, segment=segment,
                         max_frames=20), log=lambda _m: None)
    wall = time.monotonic() - t0
    files = sorted(save.glob(SEGMENT_GLOB)) if segment else [save]
    played = sum(frame_count(p) / cv2.VideoCapture(str(p)).get(cv2.CAP_PROP_FPS) for p in files)
    # 20 frames at their nominal 30 fps would play for 0.67 s of a run of about 2 s
    assert wall - 0.5 <= played <= wall + 0.1, (played, wall)
    if segment:
        assert len(files) >= 3 and all(abs(frame_count(p) / 30 - segment) <= 0.1 for p in files[:-1])


def test_the_wall_clock_repeats_over_dropped_frames_and_skips_early_ones():
    class Kept(Sink):
        def __init__(self) -> None:
            self.images: list[str] = []

        def write(self, image, stream: int = 0) -> bool:
            self.images.append(image)
            return True

    kept = Kept()
    clock = WallClock(kept, fps=10)
    for t, image in [(0.0, "a"), (0.35, "b"), (0.36, "c"), (0.5, "d")]:
        clock.write(image, now=100 + t)
    # slots of 0.1 s: a at 0, its repeats over the gap, b at 0.3, c too early for a slot of its own, d at 0.5
    assert kept.images == ["a", "a", "a", "b", "b", "d"]
