"""Keras and TensorFlow model files, recognised so that their users get the tf2onnx command that
turns them into the ONNX graph unet-edge deploys (TensorFlow itself is never a dependency). Read
with the standard library only: the runtime refuses them too."""

from __future__ import annotations

import zipfile
from pathlib import Path

from unet_edge.core.errors import ModelError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
OPSET = 17  # as export's default: TensorRT 8.5/8.6 parse up to 17
TF2ONNX = "python -m tf2onnx.convert"


def tensorflow_form(path: Path) -> str | None:
    """``savedmodel``, ``keras``, ``h5`` or ``tflite`` where ``path`` is one, else None."""
    if path.is_dir():
        return "savedmodel" if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file() else None
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == HDF5_MAGIC:
        return "h5"
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:2] == b"PK" and path.suffix.lower() == ".keras":
        try:
            names = set(zipfile.ZipFile(path).namelist())
        except (zipfile.BadZipFile, OSError):
            return None
        return "keras" if "config.json" in names else None
    return None


def conversion(path: Path, form: str) -> str:
    """The command(s) that make ``path`` an ONNX graph for ``unet-edge export``."""
    onnx = conversion_target(path, form)
    if form == "savedmodel":
        return f"{TF2ONNX} --saved-model {path} --output {onnx} --opset {OPSET}"
    if form == "tflite":
        return f"{TF2ONNX} --tflite {path} --output {onnx} --opset {OPSET}"
    saved = path.parent / f"{path.stem}_saved"  # Keras 3 exports a SavedModel, which tf2onnx reads
    return (f"python -c \"import keras; keras.saving.load_model('{path}').export('{saved}')\" && "
            f"{TF2ONNX} --saved-model {saved} --output {onnx} --opset {OPSET}")


def refuse_tensorflow(path: str | Path) -> None:
    """One-line error naming the tf2onnx command where ``path`` is a Keras or TensorFlow model."""
    path = Path(path)
    form = tensorflow_form(path)
    if form is None:
        return
    what = {"savedmodel": "a TensorFlow SavedModel folder", "keras": "a Keras model (.keras)",
            "h5": "a Keras/HDF5 model (.h5)", "tflite": "a TensorFlow Lite model"}[form]
    raise ModelError(f"{path}: {what}; unet-edge deploys its ONNX graph: convert it with tf2onnx "
                     f"(pip install tensorflow-cpu tf2onnx): {conversion(path, form)}, then unet-edge export "
                     f"{conversion_target(path, form)} --rgb|--bgr --input-norm ...")


def conversion_target(path: Path, form: str) -> Path:
    """The ONNX file :func:`conversion` writes."""
    return path.with_suffix(".onnx") if form != "savedmodel" else path.parent / f"{path.name}.onnx"
