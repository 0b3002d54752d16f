"""Bad inputs of ``label``: option bounds and choices, sources that name nothing to label, an --out that is or
holds an input, or holds something else than this run's labels. All are refused before Ray starts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.matrix.row import row

LABEL = "label --model {model} --source {frames} --out {tmp}/out"


def a_clip(tmp: Path, name: str = "clip.mp4") -> Path:
    from tests.runtime.clips import write_clip

    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    return write_clip(tmp / name, frames=4)


def two_folders_one_name(tmp: Path) -> None:
    a_clip(tmp, "a/drive.mp4")
    a_clip(tmp, "b/drive.mp4")


def empty_folder(tmp: Path) -> None:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.txt").write_text("no video here\n")


def list_of_missing(tmp: Path) -> None:
    a_clip(tmp)
    (tmp / "drives.txt").write_text("# the fleet's drives\nclip.mp4\nnope.mp4\n")


def out_is_a_file(tmp: Path) -> None:
    (tmp / "out.bin").write_bytes(b"not a folder")


def out_of_something_else(tmp: Path) -> None:
    (tmp / "out").mkdir()
    (tmp / "out" / "thesis.tex").write_text("\\documentclass{article}\n")


def out_of_settings(every: int, sha: str | None = None):
    def setup(tmp: Path) -> None:
        import hashlib

        digest = sha or hashlib.sha256((tmp / "model" / "tiny.onnx").read_bytes()).hexdigest()
        (tmp / "out").mkdir()
        (tmp / "out" / "label.json").write_text(json.dumps({"tool": "unet-edge label", "model": "tiny.onnx",
                                                            "model_sha256": digest, "every": every, "size": None}))
    return setup


ROWS = [
    # bounds and choices
    row("label-every-zero", LABEL + " --every 0", "--every 0: must be at least 1"),
    row("label-workers-zero", LABEL + " --workers 0", "--workers 0: must be at least 1"),
    row("label-workers-negative", LABEL + " --workers -2", "--workers -2: must be at least 1"),
    row("label-max-batch-zero", LABEL + " --max-batch 0", "--max-batch 0: must be at least 1"),
    row("label-progress-every-zero", LABEL + " --progress-every 0", "--progress-every 0: must be above 0"),
    row("label-provider-bogus", LABEL + " --provider bogus", "--provider bogus: choose one of"),
    row("label-precision-bogus", LABEL + " --provider openvino --precision f16", "--precision f16: choose one of"),
    row("label-device-not-openvino", LABEL + " --device GPU", "--device and --precision choose OpenVINO's"),
    row("label-size-on-fixed-model", LABEL + " --size 64x64", "tiny.onnx is fixed at 64x96"),
    # a local Ray's actors must all fit this box (they would wait for ever): checked before it starts
    row("label-workers-beyond-cores", LABEL + " --workers 4096", "--workers 4096: this box has"),
    row("label-gpu-workers-beyond-gpus", LABEL + " --provider cuda --workers 4096",
        "--workers 4096: --provider cuda gives each worker a GPU, and this box has"),
    row("label-ray-address-bogus", LABEL + " --ray-address http://head:8265", "--ray-address http://head:8265: give"),
    # inputs are read-only: --out is never a source or the model, never holds one, never lies inside one
    row("label-out-is-source", "label --model {model} --source {frames} --out {frames}", "is the input --source"),
    row("label-out-inside-source", "label --model {model} --source {frames} --out {frames}/labels",
        "lies inside the input --source"),
    row("label-out-holds-source", "label --model {model} --source {frames} --out {tmp}", "contains the input"),
    row("label-out-holds-model", "label --model {model} --source {frames} --out {tmp}/model",
        "contains the input --model"),
    row("label-out-is-model", "label --model {model} --source {frames} --out {model}", "is the input --model"),
    row("label-out-inside-glob", "label --model {model} --source {tmp}/*.mp4 --out {tmp}/labels",
        "lies inside the input --source", setup=a_clip),
    # sources that name nothing to label
    row("label-source-missing", "label --model {model} --source {tmp}/nope --out {tmp}/out",
        "nope: no such file or folder"),
    row("label-source-empty", "label --model {model} --source {tmp}/empty --out {tmp}/out", "holds no video",
        setup=empty_folder),
    row("label-source-glob-none", "label --model {model} --source {tmp}/*.mkv --out {tmp}/out",
        "the glob matches no video"),
    row("label-source-stream", "label --model {model} --source rtsp://cam/1 --out {tmp}/out",
        "a stream or URL is for unet-edge run"),
    row("label-source-not-video", "label --model {model} --source {tmp}/model/tiny.onnx.json --out {tmp}/out",
        "not a video"),
    row("label-list-missing-entry", "label --model {model} --source {tmp}/drives.txt --out {tmp}/out",
        "line 3: nope.mp4: no such file or folder", setup=list_of_missing),
    row("label-two-videos-one-name", "label --model {model} --source {tmp}/a --source {tmp}/b --out {tmp}/out",
        "would both be labelled in --out's drive.mp4/", setup=two_folders_one_name),
    row("label-model-missing", "label --model {tmp}/none.onnx --source {frames} --out {tmp}/out",
        "model file not found"),
    # --out holds something else: never written into
    row("label-out-is-file", "label --model {model} --source {frames} --out {tmp}/out.bin", "is a file",
        setup=out_is_a_file),
    row("label-out-foreign", LABEL, "not empty, and no label.json", setup=out_of_something_else),
    row("label-out-other-model", LABEL, "holds labels made with tiny.onnx (sha256 000000000000)",
        setup=out_of_settings(1, "0" * 64)),
    row("label-out-other-every", LABEL, "--every 3, not tiny.onnx", setup=out_of_settings(3)),
]
