"""Bad inputs of ``run`` and ``eval``: option bounds and choices, inputs never written, outputs that
need something of the model, and the remains of an interrupted recording."""

from __future__ import annotations

from pathlib import Path

from tests.matrix.row import row

RUN = "run --model {model} --source {clip}"


def stale_bag(tmp: Path) -> None:
    (tmp / "bag.partial" / "bag").mkdir(parents=True)
    (tmp / "bag.partial" / "bag" / "bag.mcap").write_bytes(b"\x89MCAP0\r\n only copy of a drive")


def old_bag(tmp: Path) -> None:
    (tmp / "bag").mkdir()
    (tmp / "bag" / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")


def stale_mp4(tmp: Path) -> None:
    (tmp / ".out.partial.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 an interrupted recording")


def linked_frames(tmp: Path) -> None:
    (tmp / "link").symlink_to(tmp / "frames", target_is_directory=True)


ROWS = [
    # inputs are read-only: an output is never an input, never holds one, never lies inside one
    row("run-masks-into-source", "run --model {model} --source {frames} --save-masks {frames}",
        "is the input --source"),
    row("run-masks-inside-source", "run --model {model} --source {frames} --save-masks {frames}/masks",
        "lies inside the input --source"),
    row("run-masks-hold-source", "run --model {model} --source {frames} --save-masks {tmp}",
        "contains the input --source"),
    row("run-masks-through-link", "run --model {model} --source {frames} --save-masks {tmp}/link",
        "is the input --source", setup=linked_frames),
    row("run-masks-hold-model", RUN + " --save-masks {tmp}/model", "contains the input --model"),
    row("run-save-over-source", RUN + " --save {clip}", "is the input --source"),
    row("run-stats-over-model", RUN + " --stats-json {model}", "is the input --model"),
    row("run-trace-over-source", RUN + " --trace {clip}", "is the input --source"),
    row("run-bag-over-source", "run --model {model} --source {frames} --save-bag {frames}", "is the input"),
    row("run-masks-and-bag-clash", RUN + " --save-masks {tmp}/out --save-bag {tmp}/out/bag",
        "would write over each other"),
    # a crash's remains are never deleted, a finished bag never overwritten
    row("run-bag-stale-partial", RUN + " --save-bag {tmp}/bag", "holds an interrupted recording", setup=stale_bag),
    row("run-bag-exists", RUN + " --save-bag {tmp}/bag", "already exists", setup=old_bag),
    row("run-save-stale-partial", RUN + " --save {tmp}/out.mp4", "holds an interrupted recording",
        setup=stale_mp4),
    # what the model must have
    row("run-min-confidence-no-output", RUN + " --min-confidence 0.5", "--min-confidence 0.5: tiny.onnx has no "
                                                                        "confidence output"),
    row("run-view-confidence-no-output", RUN + " --view confidence", "--view confidence: tiny.onnx has no"),
    # bounds and choices of run's options
    row("run-view-bogus", RUN + " --view bogus", "--view bogus: choose one of overlay"),
    row("run-max-frames-negative", RUN + " --max-frames -1", "--max-frames -1: must be at least 1"),
    row("run-max-frames-zero", RUN + " --max-frames 0", "--max-frames 0: must be at least 1"),
    row("run-alpha-above-one", RUN + " --alpha 5", "--alpha 5: must be from 0 to 1"),
    row("run-alpha-negative", RUN + " --alpha -0.1", "--alpha -0.1: must be from 0 to 1"),
    row("run-alpha-nan", RUN + " --alpha nan", "--alpha nan: give a number"),
    row("run-min-confidence-above-one", RUN + " --min-confidence 2", "--min-confidence 2: must be from 0 to 1"),
    row("run-keep-zero-masks", RUN + " --save-masks {tmp}/m --keep 0", "--keep 0: must be at least 1"),
    row("run-max-batch-zero", RUN + " --max-batch 0", "--max-batch 0: must be at least 1"),
    row("run-threads-zero", RUN + " --threads 0", "--threads 0: must be at least 1"),
    row("run-provider-bogus", RUN + " --provider bogus", "--provider bogus: choose one of cpu"),
    row("run-precision-bogus", RUN + " --provider openvino --precision f16", "--precision f16: choose one of f32"),
    row("run-segment-zero", RUN + " --save {tmp}/rec/ --segment 0", "--segment 0: must be above 0"),
    row("run-segment-without-save", RUN + " --segment 5", "--segment 5: needs --save"),
    row("run-token-without-serve", RUN + " --serve-token abc", "--serve-token abc: needs --serve"),
    row("run-stats-every-zero", RUN + " --stats-every 0", "--stats-every 0: must be above 0"),
    row("run-size-too-small", "run --model {dyn} --source {clip} --size 8x8", "size '8x8'"),
    # the recording's grammar
    row("run-save-unknown-type", RUN + " --save {tmp}/out.txt", "unknown video type '.txt'"),
    row("run-save-folder-without-segment", RUN + " --save {tmp}/rec/", "a folder takes --segment"),
    row("run-keep-without-segment", RUN + " --save {tmp}/out.mp4 --keep 3", "--keep needs --segment"),
    row("run-two-recordings", RUN + " --save {tmp}/a.mp4 --save {tmp}/b.mp4", "one recording per run"),
    row("run-two-sources-one-name", RUN + " --source {clip} --save {tmp}/out.mp4", "the name needs {stream}"),
    row("run-topic-without-bag", RUN + " --topic /camera", "no source is a bag"),
    row("run-device-without-openvino", RUN + " --device CPU", "they apply to --provider openvino"),
    # eval: its outputs and options
    row("eval-masks-into-data", "eval --model {model} --data {frames} --save-masks {frames}",
        "is the input --data"),
    row("eval-json-over-model", "eval --model {model} --data {frames} --json {model}", "is the input --model"),
    row("eval-viz-not-an-image", "eval --model {model} --data {frames} --save-viz {tmp}/grid.txt",
        "grid.txt: give an image file"),
    row("eval-split-bogus", "eval --model {model} --data {frames} --split bogus", "--split bogus: choose one of"),
    row("eval-dataset-bogus", "eval --model {model} --data {frames} --dataset coco", "--dataset coco: choose one of"),
    row("eval-samples-zero", "eval --model {model} --data {frames} --samples 0 --save-viz {tmp}/g.png",
        "--samples 0: must be at least 1"),
    row("eval-samples-without-viz", "eval --model {model} --data {frames} --samples 8",
        "--samples 8: needs --save-viz"),
    row("eval-val-fraction-one", "eval --model {model} --data {frames} --val-fraction 1", "--val-fraction 1: must be"),
    row("eval-provider-bogus", "eval --model {model} --data {frames} --provider tpu", "--provider tpu: choose one of"),
]

ROWS += [
    row("eval-precision-bogus", "eval --model {model} --data {frames} --provider openvino --precision fp16",
        "--precision fp16: choose one of f32, bf16"),
    # the options that describe a model trained elsewhere, on eval and bench
    row("eval-input-norm-bogus", "eval --model {model} --data {frames} --input-norm zscore",
        "--input-norm zscore: choose one of imagenet"),
    row("eval-input-layout-bogus", "eval --model {model} --data {frames} --input-layout chw",
        "--input-layout chw: choose one of nchw, nhwc"),
    row("bench-multiple-of-zero", "bench --model {model} --multiple-of 0", "--multiple-of 0: must be at least 1"),
]

ROWS += [  # demo: checked by typer's ranges (exit 2), before the synthetic scenes are written
    row("demo-frames-too-few", "demo --out {tmp}/d --frames 3", "--frames", code=2),
    row("demo-epochs-zero", "demo --out {tmp}/d --epochs 0", "--epochs", code=2),
    row("demo-minutes-zero", "demo --out {tmp}/d --train-minutes 0", "--train-minutes", code=2),
    row("demo-size-bad", "demo --out {tmp}/d --size 8x8", "size '8x8'"),
]
