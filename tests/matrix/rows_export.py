"""Bad input to export, build and train: refused in one line before anything is written, so the
earlier run ({run}: best.pt and its verified export best.onnx, sidecar and report) stays as it was."""

from __future__ import annotations

from pathlib import Path

from tests.matrix.row import Row, row

E = "export {run}/best.pt --out {run}"  # over the earlier, verified export
CALIB = " --int8 --calib {frames}"
B = "build {model}"
T = "train --data {frames} --dataset folder --out {tmp}/o"


def _engine(tmp: Path) -> None:
    (tmp / "e.engine").write_bytes(b"an engine built earlier")


def _empty(tmp: Path) -> None:
    (tmp / "empty").mkdir()


ROWS: list[Row] = [  # export: the options, checked before the model is opened
    row("export-int8-target-bogus", E + CALIB + " --int8-target bogus", "--int8-target bogus: choose one of"),
    row("export-int8-without-calib", E + " --int8", "--int8 (--int8-target tensorrt) needs real calibration"),
    row("export-openvino-without-calib", E + " --int8 --int8-target openvino", "(--int8-target openvino) needs real"),
    row("export-calib-frames-zero", E + CALIB + " --calib-frames 0", "--calib-frames 0: must be at least 1"),
    row("export-calib-method-bogus", E + CALIB + " --calib-method fastest", "--calib-method fastest: unknown"),
    row("export-calib-method-openvino", E + CALIB + " --int8-target openvino --calib-method minmax",
        "--calib-method minmax: applies to ONNX Runtime"),
    row("export-logits-int8", E + CALIB + " --logits", "--int8 with --logits"),
    row("export-logits-confidence", E + " --logits --confidence", "--confidence goes with the class-id graph"),
    row("export-min-agreement-above-one", E + " --min-agreement 1.5", "--min-agreement 1.5: must be from 0 to 1"),
    row("export-max-miou-drop-negative", E + " --max-miou-drop -1", "--max-miou-drop -1: must be from 0 to 100"),
    row("export-max-class-drop-over", E + " --max-class-drop 101", "--max-class-drop 101: must be from 0 to 100"),
    row("export-search-minutes-negative", E + CALIB + " --int8-search-minutes -1",
        "--int8-search-minutes -1: must be at least 0"),
    row("export-opset-too-old", E + " --opset 9", "--opset 9: must be at least 13"),
    row("export-verify-frames-zero", E + " --verify-frames 0", "--verify-frames 0: must be at least 1"),
    row("export-workspace-zero", E + " --workspace 0", "--workspace 0: must be above 0"),
    row("export-triton-max-batch-zero", E + " --triton {tmp}/triton --triton-max-batch 0", "--triton-max-batch",
        code=2),
    row("export-calib-missing", E + " --int8 --calib {tmp}/nope", "--calib"),
    row("export-verify-data-missing", E + " --verify-data folder:{tmp}/nope", "--verify-data folder:"),
]

ROWS += [  # export: where it writes, against what it reads
    row("export-out-inside-model", "export {run}/best.pt --out {run}/best.pt", "lies inside the input MODEL"),
    row("export-out-in-calib", "export {run}/best.pt" + CALIB + " --out {frames}", "lies inside the input --calib"),
    row("export-out-in-verify-data", "export {run}/best.pt --verify-data {frames} --out {frames}/sub",
        "lies inside the input --verify-data"),
    row("export-json-is-artifact", E + " --json {run}/best.onnx", "would write over each other"),
    row("export-json-is-model", E + " --json {run}/best.pt", "is the input MODEL"),
    row("export-json-is-folder", E + " --json {run}", "is a folder"),
    row("export-triton-is-file", E + " --triton {run}/best.onnx", "--triton"),
    row("export-out-is-file", "export {run}/best.pt --out {run}/best.onnx.json", "is a file"),
]

ROWS += [  # export: refused once the model is open, still before its first write
    row("export-size-not-multiple", E + " --size 351x480", "--size 351x480: unet-lite takes heights and widths in "
                                                            "multiples of 16"),
    row("export-size-not-multiple-dynamic", E + " --dynamic --size 100x96", "e.g. --size 112x96"),
    row("export-calib-no-images", E + " --int8 --calib {tmp}/empty", "no images found", setup=_empty),
]

ROWS += [  # build: checked before TensorRT is imported (typer's ranges exit 2)
    row("build-precision-bogus", B + " --precision int4", "--precision int4: choose one of fp32, fp16, int8"),
    row("build-max-batch-zero", B + " --max-batch 0", "--max-batch", code=2),
    row("build-dla-negative", B + " --dla -1", "--dla", code=2),
    row("build-opt-level-high", B + " --opt-level 6", "--opt-level", code=2),
    row("build-workspace-zero", B + " --workspace 0", "--workspace 0: must be above 0"),
    row("build-onnx-missing", "build {tmp}/nope.onnx", "model file not found"),
    row("build-out-is-onnx", B + " --out {model}", "is the input ONNX"),
    row("build-out-is-sidecar", B + " --out {tmp}/model/tiny.onnx.json", "is the input ONNX"),
    row("build-out-exists", B + " --out {tmp}/e.engine", "already exists; pass --overwrite", setup=_engine),
    row("build-out-is-timing-cache", B + " --out {tmp}/x.engine --timing-cache {tmp}/x.engine",
        "would write over each other"),
    row("build-out-is-folder", B + " --out {tmp}", "contains the input ONNX"),
]

ROWS += [  # train: the run folder, before any data is read
    row("train-out-holds-run", "train --data {frames} --dataset folder --out {run}", "holds an earlier run"),
    row("train-resume-nothing", T + " --resume", "--resume: "),
    row("train-resume-and-overwrite", "train --data {frames} --dataset folder --out {run} --resume --overwrite",
        "--resume and --overwrite"),
    row("train-out-is-data", "train --data {frames} --dataset folder --out {frames}", "lies inside the input --data"),
    row("train-weights-in-out", "train --data {frames} --dataset folder --out {run} --overwrite "
                                "--pretrained-weights {run}/best.pt", "is the input --pretrained-weights"),
    row("train-out-is-file", "train --data {frames} --dataset folder --out {run}/best.pt", "is a file"),
    row("train-weights-missing", T + " --pretrained-weights {tmp}/nope.pt", "file not found"),
]

ROWS += [  # train: the fields' bounds and choices
    row("train-epochs-zero", T + " --epochs 0", "--epochs 0: must be at least 1"),
    row("train-batch-zero", T + " --batch 0", "--batch 0: must be at least 1"),
    row("train-lr-zero", T + " --lr 0", "--lr 0: must be above 0"),
    row("train-loss-bogus", T + " --loss focal", "--loss focal: choose one of"),
    row("train-class-weights-bogus", T + " --class-weights inverse", "--class-weights inverse: choose one of"),
    row("train-dataset-bogus", T + " --dataset voc", "--dataset voc: choose one of"),
    row("train-logit-adjust-over", T + " --logit-adjust 2", "--logit-adjust 2: must be from 0 to 1"),
    row("train-rare-crop-negative", T + " --rare-crop -0.5", "--rare-crop -0.5: must be from 0 to 1"),
    row("train-ema-one", T + " --ema 1", "--ema 1: a decay in [0, 1)"),
    row("train-time-zero", T + " --time 0", "--time 0: must be above 0"),
    row("train-val-fraction-zero", T + " --val-fraction 0", "--val-fraction 0: must be above 0"),
    row("train-width-zero", T + " --arch unet --width 0", "--width 0: must be at least 1"),
    row("train-encoder-lr-scale-negative", T + " --encoder-lr-scale -1", "--encoder-lr-scale -1: must be at least 0"),
    row("train-weight-decay-negative", T + " --weight-decay -0.1", "--weight-decay -0.1: must be at least 0"),
    row("train-workers-too-low", T + " --workers -2", "--workers -2: must be at least -1"),
    row("train-num-classes-zero", T + " --num-classes 0", "--num-classes 0: must be at least 1"),
    row("train-max-steps-zero", T + " --max-steps 0", "--max-steps 0: must be at least 1"),
    row("train-scale-reversed", T + " --scale 2,1", "--scale 2,1: a range LO,HI"),
]
