"""``unet-edge export MODEL.onnx`` for a float segmentation graph unet-edge did not write.

The graph is wrapped into the deploy graph (:mod:`.foreign_onnx`), then goes through the stages a
checkpoint goes through: FP16 (ONNX Runtime's float16 converter on the user's graph, the wrapper's
pre-processing and ArgMax input in FP32, convolutions that overflow or drift in FP16 kept in FP32:
:mod:`.fp16_onnx`),
INT8 with the float-layer search (layers named by the graph's node scopes), sidecars with the input
contract, the precision gate and the TensorRT engines. The gate's FP32 reference is the user's graph
itself run by ONNX Runtime, fed and resized in numpy and OpenCV, not the wrapper: the FP32 artifact's
agreement with it checks the surgery too.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from unet_edge.core import sysinfo
from unet_edge.core.artifact import ONNX_KEY, file_sha256, write_meta
from unet_edge.core.errors import ConfigError
from unet_edge.core.lazy import require
from unet_edge.export import foreign_graph as fg
from unet_edge.export import foreign_onnx as fo
from unet_edge.export.fp16_onnx import ISLAND_FRAMES, fp16_islands
from unet_edge.export.thresholds import FP16_MAX_ERROR
from unet_edge.models.contract import IOContract


def is_foreign_onnx(path: str | Path) -> bool:
    """An ``.onnx`` without unet-edge's metadata: a graph from another exporter."""
    from unet_edge.core.onnx_props import metadata_props

    path = Path(path)
    if path.suffix.lower() != ".onnx" or not path.is_file():
        return False
    try:
        return ONNX_KEY not in metadata_props(path)
    except (OSError, ValueError):
        return True  # not readable as ONNX: the ONNX loader says why, in one line


class SourceReference:
    """The user's graph in ONNX Runtime, fed a BGR frame as its contract says (padded with zeros after
    normalising where the contract's multiple asks), its logits resized bilinearly to the padded frame
    and cropped back (``.logits``), and their argmax (``.mask``; a class-id graph's own ids, resized nearest)."""

    def __init__(self, path: Path, src: fo.Source) -> None:
        ort = require("onnxruntime")
        from onnx import helper

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        c = src.contract
        self.src, self.classes = src, list(c.classes)
        mean, std = np.asarray(c.mean, np.float32), np.asarray(c.std, np.float32)
        self.rgb = c.color == "rgb"
        self.mean, self.std = (mean, std) if self.rgb else (mean[::-1], std[::-1])
        self.dtype = helper.tensor_dtype_to_np_dtype(src.input_type)

    def _out(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The picked output for one frame (batch dim dropped) and the padded size."""
        x = frame[..., ::-1] if self.rgb else frame
        x = (x.astype(np.float32) - self.mean) / self.std
        h, w = frame.shape[:2]
        ph, pw = self.src.contract.padded(h, w) if self.src.padded != self.src.size else (h, w)
        x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)))[None]
        if self.src.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return self.sess.run([self.src.output], {self.src.input: x.astype(self.dtype)})[0][0], (ph, pw)

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """CxHxW float32 at the frame's size."""
        out, (ph, pw) = self._out(frame)
        hwc = out.astype(np.float32)
        if self.src.output_layout == "nchw":
            hwc = hwc.transpose(1, 2, 0)
        if hwc.shape[:2] != (ph, pw):  # OpenCV takes at most 512 channels at once
            hwc = np.concatenate([cv2.resize(hwc[..., i:i + 512], (pw, ph), interpolation=cv2.INTER_LINEAR)
                                  .reshape(ph, pw, -1) for i in range(0, hwc.shape[2], 512)], axis=2)
        h, w = frame.shape[:2]
        return hwc[:h, :w].transpose(2, 0, 1)

    def mask(self, frame: np.ndarray) -> np.ndarray:
        if self.src.kind == "logits":
            return self.logits(frame).argmax(0).astype(np.uint8)
        out, (ph, pw) = self._out(frame)
        ids = cv2.resize(out.astype(np.float32).squeeze(), (pw, ph), interpolation=cv2.INTER_NEAREST)
        h, w = frame.shape[:2]
        return ids[:h, :w].astype(np.uint8)


def foreign_meta(path: Path, src: fo.Source, contract: IOContract, opts, multiple: int) -> dict:
    """The sidecar content shared by every artifact of one export (base_meta's fields for a graph)."""
    h, w = src.size
    n = contract.num_classes
    batch = "N" if src.batch_dynamic else 1
    hw = ["H", "W"] if opts.dynamic else [h, w]
    out_shape = [batch, n, *hw] if opts.logits else [batch, *hw]
    return {
        "arch": f"foreign:onnx:{path.name}", "model_options": {}, "num_classes": n, "classes": list(contract.classes),
        "palette": [list(c) for c in contract.palette], "ignore_index": contract.ignore_index,
        "input": {"name": fg.INPUT, "shape": [batch, *hw, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                  "multiple_of": multiple if opts.dynamic else 1},
        "outputs": [{"name": fg.LOGITS if opts.logits else fg.OUTPUT, "shape": out_shape,
                     "dtype": "float32" if opts.logits else "uint8",
                     "semantics": "logits" if opts.logits else "class_ids"}]
        + ([{"name": fg.CONFIDENCE, "shape": out_shape, "dtype": "uint8", "semantics": "confidence"}]
           if opts.confidence else []),
        "normalization": {"mean": list(contract.unit_mean), "std": list(contract.unit_std), "in_graph": True},
        "model_source": {"kind": "onnx", "source": path.name, **src.describe()}, "contract": contract.to_json(),
        "train_input_size": [h, w], "checkpoint": path.name, "checkpoint_sha256": file_sha256(path),
        "checkpoint_metrics": None, "opset": opts.opset, "dynamic": opts.dynamic, "subpixel": False,
        "versions": sysinfo.versions(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def export_foreign_onnx(path: str | Path, opts, contract: IOContract, log: Callable[[str], None] = print) -> dict:
    """Export a foreign ONNX graph per ``opts`` (ExportOptions); returns what export_checkpoint returns."""
    from unet_edge.core.errors import Int8Rejected
    from unet_edge.core.io import atomic_path
    from unet_edge.export.criterion import gate_of
    from unet_edge.export.exporter import _engines
    from unet_edge.export.frame_sets import synthetic_frames
    from unet_edge.export.int8.stage import Int8Reference, int8_path, write_int8
    from unet_edge.export.onnx_export import check, set_metadata
    from unet_edge.export.report import write_reports
    from unet_edge.export.verify import enforce, format_table, mask_and_near_ties, verification_set, verify

    onnx = require("onnx")
    t0 = time.monotonic()
    path = Path(path)
    if opts.logits and opts.confidence:
        raise ConfigError("--confidence goes with the class-id graph, not --logits (softmax the logits yourself)")
    if opts.subpixel or opts.simplify:
        raise ConfigError(f"{'--subpixel' if opts.subpixel else '--simplify'} applies to unet-edge checkpoints, "
                          "not to a foreign ONNX graph")
    multiple = contract.multiple_of
    src = fo.inspect(fo.load(path), contract, tuple(opts.size) if opts.size else None, opts.dynamic, path.name)
    contract = src.contract  # with generic class names where none were given
    size = src.size
    log(f"{path.name}: {src.layout.upper()} input '{src.input}' at {size[0]}x{size[1]}, {src.kind} output "
        f"'{src.output}' {list(src.output_shape)} ({src.output_layout.upper()}), opset {src.opset}")
    meta = foreign_meta(path, src, contract, opts, multiple)
    out = Path(opts.out or path.parent)
    out.mkdir(parents=True, exist_ok=True)
    stem = path.stem
    ckpt = {"num_classes": contract.num_classes, "classes": list(contract.classes)}
    checked = verification_set(opts, size, ckpt) if opts.verify else None
    artifacts: list[tuple[Path, str]] = []
    measured: dict[Path, dict] = {}  # what each stage measured, for the reports
    ref = SourceReference(path, src)

    def emit(dest: Path, precision: str, graph, extra: dict | None = None) -> None:
        data = {**meta, "precision": precision, **(extra or {})}
        with atomic_path(dest) as tmp:
            graph = check(graph, str(dest))
            set_metadata(graph, data)
            onnx.save_model(graph, str(tmp), save_as_external_data=False)
        write_meta(dest, data)
        artifacts.append((dest, precision))
        log(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, {precision})")

    graph = fg.deploy_graph(src, opts.opset, opts.dynamic, opts.confidence, opts.logits)
    # beside the source, the artifact must not overwrite it
    fp32 = out / (f"{stem}.deploy.onnx" if out.resolve() == path.parent.resolve() else f"{stem}.onnx")
    emit(fp32, "fp32", graph)
    if opts.fp16:
        frames = checked[0] if checked else synthetic_frames(size, ISLAND_FRAMES)[0]
        keep, fp16, drift = fp16_islands(graph, frames)
        half = fg.deploy_graph(src, opts.opset, opts.dynamic, opts.confidence, opts.logits, keep)
        kept = fp16["fp32_layers"]
        log(f"FP16: {len(kept)} layers kept in FP32 (overflow, or drift > {100 * FP16_MAX_ERROR:.0f}% of their "
            "range)"
            + (f": {', '.join(kept)}" if kept else ""))
        emit(fp32.with_name(fp32.name[: -len(".onnx")] + ".fp16.onnx"), "fp16", half, {"fp16": fp16})
        measured[artifacts[-1][0]] = {"fp16": {"drift": drift}}
    ref_masks, ties = None, []
    if checked and not opts.logits:
        ref_masks = []
        for frame in checked[0]:
            if src.kind == "logits":
                mask, share = mask_and_near_ties(ref.logits(frame))
            else:
                mask, share = ref.mask(frame), 0.0
            ref_masks.append(mask)
            ties.append(share)
    rejected = None
    if opts.int8:
        reference = Int8Reference(checked[0], ref_masks, checked[1], float(np.mean(ties))) if checked else None
        dest = int8_path(out, fp32.name[: -len(".onnx")], opts.int8_target)
        try:
            measured[dest] = write_int8(dest, fp32, meta, size, ckpt, opts, [], reference, log)
        except Int8Rejected as miss:  # verified and reported like the others, then raised
            rejected, dest, measured[miss.path] = miss, miss.path, miss.measured
        artifacts.append((dest, "int8"))
    gate = []
    if checked:
        gate = verify(ref, artifacts, checked[0], checked[1], opts.logits, gate_of(opts), ref_masks)
        log(format_table(gate, checked[2]).replace("against PyTorch FP32", f"against {path.name} in ONNX Runtime"))
    rows = [r.to_dict() for r in gate]
    # a failed gate's measurements are kept too
    reports = write_reports(artifacts, measured, rows, time.monotonic() - t0)
    if rejected is not None:
        raise rejected
    enforce(gate)
    engines, commands = _engines(artifacts, opts, log)
    return {"artifacts": [str(p) for p, _ in artifacts], "engines": [str(e) for e in engines],
            "verification": rows, "build_commands": commands, "reports": reports}
