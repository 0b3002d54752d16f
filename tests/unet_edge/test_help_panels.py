"""export's and bench's --help: the common options first, the rest in named panels a newcomer can scan."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from unet_edge.cli.app import app

PANEL = re.compile(r"^╭─ (.+?) ─")
FLAG = re.compile(r"^│\s+\*?\s*(--[a-z0-9-]+)")


def panels(command: str) -> dict[str, list[str]]:
    """--help of ``command`` read back: panel title -> its options' first flags, in the order shown."""
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    out: dict[str, list[str]] = {}
    title = None
    for line in res.output.splitlines():
        if (m := PANEL.match(line)) is not None:
            title = m.group(1)
            out[title] = []
        elif title is not None and (m := FLAG.match(line)) is not None:
            out[title].append(m.group(1))
    return out


@pytest.mark.parametrize(("command", "common", "named"), [
    ("export", ["--fp16", "--int8", "--calib", "--out", "--dynamic", "--size", "--help"],
     {"Outputs": ["--json", "--triton", "--triton-max-batch", "--logits", "--confidence"],
      "INT8": ["--int8-target", "--calib-frames", "--calib-method", "--int8-search-minutes"],
      "Verification": ["--verify", "--verify-data", "--verify-frames"]}),
    ("bench", ["--model", "--backends", "--size", "--data", "--json", "--help"],
     {"Timing": ["--batch", "--warmup", "--iters", "--min-seconds", "--threads"],
      "Accuracy": ["--data-limit", "--dataset"], "Stream": ["--source", "--stream-frames"],
      "Outputs": ["--plot", "--cache-dir"], "Backend": ["--provider", "--device"]}),
])
def test_the_common_options_come_first_and_the_rest_in_panels(command, common, named):
    shown = panels(command)
    titles = [t for t in shown if t != "Arguments"]
    assert titles[0] == "Options" and shown["Options"] == common
    assert titles[-1] == "Your own model"
    for title, flags in named.items():
        assert shown[title] == flags, title


def test_export_panels_and_every_option_shown_once():
    shown = panels("export")
    assert [t for t in shown if t not in ("Arguments", "Options")] == [
        "Outputs", "Precision", "INT8", "Verification", "Advanced", "Your own model"]
    flags = [f for fs in shown.values() for f in fs]
    declared = [p.opts[0] for p in typer.main.get_command(app).commands["export"].params if p.opts[0].startswith("-")]
    assert sorted(flags) == sorted([*declared, "--help"])  # none lost or shown twice by the grouping


def test_int8_target_says_why_tensorrt_is_its_default():
    res = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "400"})
    line = next(x for x in res.output.splitlines() if "--int8-target" in x)
    for fact in ("tensorrt = TensorRT's symmetric INT8, for a Jetson", "the default", "TensorRT refuses the others",
                 "cpu = ONNX Runtime's", "openvino = NNCF's"):
        assert fact in line, fact
