"""Stream statistics: constant memory in the number of frames, percentiles within 1% of exact."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from unet_edge.runtime.periodic import PeriodicReport
from unet_edge.runtime.stats import StreamStats


def _feed(stats: StreamStats, values: np.ndarray) -> None:
    for v in values:
        stats.add({"capture": 0.1, "resize": 0.5, "infer": float(v), "render": 0.8, "sinks": 0.2}, float(v) + 5.0,
                  interval_ms=33.0)


def test_memory_does_not_grow_with_the_frame_count():
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 0.4, 60_000)
    stats = StreamStats()
    tracemalloc.start()
    try:
        _feed(stats, values[:5_000])
        early = tracemalloc.get_traced_memory()[0]
        _feed(stats, values[5_000:])
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # 55,000 more frames: lists would hold ~330,000 more floats (> 7 MB); the sketches hold a few bins more
    assert late - early < 64_000, (early, late)


def test_percentiles_are_within_one_percent_of_the_exact_ones():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.lognormal(3.0, 0.3, 20_000), rng.lognormal(4.5, 0.2, 400)])  # a slow tail
    stats = StreamStats()
    _feed(stats, values)
    s = stats.summary()["stages"]["infer"]
    for key, q in (("p50", 50), ("p99", 99)):
        exact = float(np.percentile(values, q))
        assert abs(s[key] - exact) / exact < 0.01, (key, s[key], exact)
    assert s["mean"] == pytest.approx(values.mean()) and s["max"] == pytest.approx(values.max())
    assert stats.recent_fps() == pytest.approx(1000 / 33.0)


def test_periodic_reports_print_a_line_and_append_json_records(tmp_path):
    lines: list[str] = []
    report = PeriodicReport(0.0001, tmp_path / "sub" / "stats.jsonl", log=lines.append)
    total = StreamStats()
    for i in range(3):
        for _ in range(10):
            total.add({"infer": 10.0 + i}, 20.0)
            report.record({"infer": 10.0 + i}, 20.0)
        report.maybe_emit(total, force=True)
    report.close()
    records = [json.loads(x) for x in (tmp_path / "sub" / "stats.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2] and len(lines) == 3
    assert [r["interval"]["frames"] for r in records] == [10, 10, 10]
    assert [r["total"]["frames"] for r in records] == [10, 20, 30]
    assert records[2]["interval"]["stages"]["infer"]["p50"] == pytest.approx(12.0, rel=0.01)
    assert "frames 10" in lines[0] and "RSS" in lines[0] and records[0]["rss_mb"] > 0


@pytest.mark.slow
def test_stats_every_reports_during_a_run(model, tmp_path):
    out, trace = tmp_path / "stats.jsonl", tmp_path / "trace.csv"
    proc = subprocess.run([sys.executable, "-m", "unet_edge", "run", "--model", str(model), "--source",
                           "synth://?size=64x96", "--max-frames", "60", "--stats-every", "0.2", "--stats-json",
                           str(out), "--trace", str(trace)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = trace.read_text().splitlines()
    assert rows[0].startswith("frame,t_capture,latency_ms,capture_ms") and len(rows) == 61
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert records and records[-1]["total"]["frames"] <= 60
    assert sum("FPS" in ln and "latency p50/p99" in ln for ln in proc.stderr.splitlines()) == len(records)
