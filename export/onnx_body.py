"""A float ONNX segmentation body, from any exporter (unet-edge's own torch.onnx export of a PyTorch body,
tf2onnx, paddle2onnx, HF Optimum), read:
its one image input (layout from its shape, size from its fixed dims), and the output that holds the
logits or class ids (``--output NAME``, or the only 4-D one) with its class axis found from the class
count. Every graph that does not fit is a one-line error. :mod:`.deploy_graph` then wraps it into
the deploy graph by graph surgery; it is never re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ConfigError, ExportError
from unet_edge.core.lazy import require
from unet_edge.models.contract import IOContract
from unet_edge.models.foreign import DEFAULT_SIZE


@dataclass
class BodyGraph:
    """A float ONNX body as read: its input, layout and export size, the output holding its logits (or
    class ids), under its contract."""

    model: object  # onnx.ModelProto, as loaded
    input: str
    input_type: int  # TensorProto element type of the input
    layout: str  # nchw | nhwc
    size: tuple[int, int]  # the export size (H, W): the deploy graph's input
    padded: tuple[int, int]  # the model's input: ``size`` padded to the contract's multiple (cropped back)
    batch_dynamic: bool
    output: str
    kind: str  # logits | ids
    output_layout: str  # nchw | nhwc (logits), the class axis found from the class count
    output_shape: tuple[int, ...]  # at the export size
    opset: int
    contract: IOContract  # the given one, with generic class names where none were given
    probabilities: bool = False  # the output is a Softmax over the classes (common in Keras): not logits

    def describe(self) -> dict:
        """For the sidecar."""
        return {"input": self.input, "layout": self.layout, "output": self.output, "output_kind": self.kind,
                "output_layout": self.output_layout, "output_shape": list(self.output_shape), "opset": self.opset,
                "probabilities": self.probabilities,
                "producer": " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)}


def load(path: str | Path):
    onnx = require("onnx")
    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ExportError(f"{path}: not a readable ONNX file ({str(exc).splitlines()[0][:160]})") from exc


def _dims(value_info) -> list[int | None]:
    """Static dims, None where symbolic or unknown."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def inspect(model, contract: IOContract, size: tuple[int, int] | None, dynamic: bool = False,
            name: str | None = None) -> BodyGraph:
    """The one image input, its layout and the export size, the logits (or class-id) output and its class
    axis. Every graph that does not fit is a one-line error naming ``name`` (the file)."""
    onnx = require("onnx")
    g = model.graph
    name = name or g.name or "the ONNX graph"
    inits = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        raise ExportError(f"{name} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}): a segmentation "
                          "graph takes one image")
    inp = inputs[0]
    dims = _dims(inp)
    if len(dims) != 4:
        raise ExportError(f"{name}: input '{inp.name}' has {len(dims)} dimensions: expected a 4-D image "
                          "(NCHW or NHWC)")
    layout = contract.layout
    if (dims[1] == 3) != (dims[3] == 3):  # the shape says which axis holds the channels
        layout = "nchw" if dims[1] == 3 else "nhwc"
        if "layout" in contract.origin and contract.layout != layout:
            raise ConfigError(f"--input-layout {contract.layout}: {name}'s input '{inp.name}' "
                              f"{['?' if d is None else d for d in dims]} is {layout.upper()}; drop the option "
                              "or pass the graph's layout")
    channels = dims[1] if layout == "nchw" else dims[3]
    if channels not in (None, 3):
        raise ExportError(f"{name}: input '{inp.name}' has {channels} channels: expected 3 (an RGB or BGR image)")
    spatial = dims[2:4] if layout == "nchw" else dims[1:3]
    want = size or contract.size
    if dynamic and any(s is not None for s in spatial):
        raise ConfigError(f"--dynamic: {name} fixes its input at {_hw(spatial)}; export it without --dynamic")
    if want is None:  # the graph's own size, where it fixes one
        want = tuple(s or d for s, d in zip(spatial, DEFAULT_SIZE))
    if dynamic:  # the frames will be multiples: nothing to pad
        want = contract.padded(*want)
    for s, w, side in zip(spatial, want, ("height", "width")):
        if s is not None and s != w:
            raise ConfigError(f"{name} fixes its input {side} at {s}, not {w}: pass --size {_hw(spatial)} or none")
    padded = tuple(int(w) if s else int(p) for s, w, p in zip(spatial, want, contract.padded(*want)))
    if dims[0] not in (None, 1):
        raise ExportError(f"{name}: input '{inp.name}' fixes a batch of {dims[0]}: the deploy graph needs 1 or dynamic")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    elem = inp.type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE):
        kind = onnx.TensorProto.DataType.Name(elem)
        raise ExportError(f"{name}: input '{inp.name}' is {kind}: expected a float image")
    src = BodyGraph(model, inp.name, elem, layout, (int(want[0]), int(want[1])), padded, dynamic and dims[0] is None,
                 "", "", "", (), opset, contract)
    _pick_output(src, contract, _probe(model, src, name), name)
    src.probabilities = src.kind == "logits" and _softmax_over_classes(model, src)
    _record(src, layout, any(s is not None for s in spatial))
    return src


def _record(src: BodyGraph, layout: str, fixed: bool) -> None:
    """The contract as read: the graph's layout and output, each marked as read from the graph where no
    option gave it (the sidecar then never records a layout the graph does not have)."""
    from dataclasses import replace

    c = src.contract
    marks = {"layout": "graph", "output": "graph", "size": "graph" if fixed else "default",
             "classes": "graph (generic names)"}
    src.contract = replace(c, layout=layout, output=src.output, output_kind=src.kind,
                           output_layout=src.output_layout, origin={**marks, **c.origin})


def _softmax_over_classes(model, src: BodyGraph) -> bool:
    """Whether the picked output is a Softmax over its class axis: its argmax is the logits', and its
    maximum is already the confidence (a second softmax would flatten it)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    classes, node = (1 if src.output_layout == "nchw" else 3), producer.get(src.output)
    while node is not None and node.op_type in ("Transpose", "Identity"):  # tf2onnx: Softmax, then to NHWC
        if node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), [3, 2, 1, 0])
            classes = perm[classes]
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Softmax":
        return False
    axis = next((a.i for a in node.attribute if a.name == "axis"), -1 if src.opset >= 13 else 1)
    # before opset 13 Softmax normalises over every axis from ``axis`` on: the classes only where they are last
    return axis % 4 == classes and (src.opset >= 13 or classes == 3)


def _hw(spatial) -> str:
    return "x".join("?" if s is None else str(s) for s in spatial)


def _probe(model, src: BodyGraph, name: str) -> dict[str, np.ndarray]:
    """Every output of the graph on a zero image at the export size: shapes that shape inference may not
    resolve (sizes computed from Shape), dtypes as ONNX Runtime produces them."""
    ort = require("onnxruntime")
    from onnx import helper

    h, w = src.padded
    shape = (1, 3, h, w) if src.layout == "nchw" else (1, h, w, 3)
    x = np.zeros(shape, helper.tensor_dtype_to_np_dtype(src.input_type))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, {src.input: x})))
    except Exception as exc:
        raise ExportError(f"{name} does not run at {h}x{w} in ONNX Runtime: "
                          f"{str(exc).strip().splitlines()[0][:200]}") from exc


def _pick_output(src: BodyGraph, contract: IOContract, outs: dict[str, np.ndarray], name: str) -> None:
    if contract.output is not None:
        if contract.output not in outs:
            raise ConfigError(f"--output '{contract.output}': {name} has outputs {', '.join(outs)}")
        picked = contract.output
    else:
        four = [k for k, v in outs.items() if v.ndim == 4 and v.dtype.kind == "f"]
        ids = [k for k, v in outs.items() if v.ndim in (3, 4) and v.dtype.kind in "iu"]
        if len(four) > 1:
            raise ConfigError(f"{name} has {len(four)} 4-D outputs ({', '.join(four)}): pick the logits with "
                              "--output NAME")
        if not four and len(ids) != 1:
            raise ExportError(f"{name} has no 4-D output (outputs: "
                              + ", ".join(f"{k} {list(v.shape)}" for k, v in outs.items())
                              + "): expected NCHW or NHWC logits, or class ids")
        picked = (four or ids)[0]
    value = outs[picked]
    src.output, src.output_shape = picked, tuple(int(d) for d in value.shape)
    is_ids = value.dtype.kind in "iu" or contract.output_kind == "ids"
    src.kind = "ids" if is_ids else "logits"
    if is_ids:
        if value.ndim == 4 and 1 not in (value.shape[1], value.shape[3]):
            raise ExportError(f"{name}: class-id output '{picked}' {list(value.shape)} has no singleton class axis")
        if value.ndim not in (3, 4):
            raise ExportError(f"{name}: class-id output '{picked}' {list(value.shape)} is not NxHxW")
        if not contract.classes:
            raise ConfigError(f"{name}: a graph that outputs class ids needs --classes (their count is not in "
                              "its output)")
        src.output_layout = "nhwc" if value.ndim == 4 and value.shape[1] != 1 else "nchw"
        return
    if value.ndim != 4:
        raise ExportError(f"{name}: output '{picked}' {list(value.shape)} is not 4-D logits")
    n = contract.num_classes
    layout = contract.output_layout
    if layout is None:  # without classes, the model's input layout
        first, last = value.shape[1] == n, value.shape[3] == n
        layout = src.layout if first == last else "nchw" if first else "nhwc"
    if not contract.classes:  # as for a PyTorch model: generic names, the default palette
        from dataclasses import replace

        from unet_edge.data.classes import default_palette

        count = int(value.shape[1 if layout == "nchw" else 3])
        src.contract = replace(contract, classes=tuple(f"class_{i}" for i in range(count)),
                               palette=tuple(default_palette(count)))
    contract.check_classes(int(value.shape[1] if layout == "nchw" else value.shape[3]), f"{name}'s '{picked}'")
    src.output_layout = layout
