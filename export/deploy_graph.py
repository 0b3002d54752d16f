"""The deploy graph of every model: its float ONNX body (read by :mod:`.onnx_body`) wrapped by graph surgery.

The body is never re-exported: its nodes are inlined, every tensor prefixed (``src/``) so that nothing
collides with the wrapper's, at the export's opset (onnx.version_converter where it differs), between
the pre- and post-processing: uint8 BGR NHWC ``frame`` in, Cast, the colour swap the model wants,
``x / std - mean / std`` on the 0-255 scale, the NCHW transpose unless the model is NHWC; then the
logits to NCHW, resized bilinearly to the input where the model outputs them at a stride (as upstream
inference does), and ArgMax -> Cast(FLOAT) -> Cast(UINT8) to ``mask``, with the optional
``confidence``. A graph that already outputs class ids is passed through. Everything the CPU would
otherwise do per frame happens inside the graph, so the runtime does no float work on the host.

The argmax cast chain is never ArgMax -> Cast(UINT8): TensorRT lowers ArgMax to TopK whose indices
are INT32 on 8.x and INT64 on 10.x, and the 8.5 parser only casts to or from UINT8 with a float type
on the other side. INT32/INT64 -> FLOAT is supported by every version, and FLOAT -> UINT8 too, so the
same file parses on 8.5 and 10/11. Class ids are small integers, exact in float16 and float32.

Node names become ``/model/<scope>/<op>`` so that the FP16 and INT8 layer names (naming.module_path)
are the graph's own scopes (a PyTorch body's module paths), or its node names where it has none.
"""

from __future__ import annotations

import numpy as np

from unet_edge.core.errors import ConfigError, ExportError
from unet_edge.core.lazy import require
from unet_edge.export.onnx_body import BodyGraph

PREFIX = "src/"
MIN_OPSET = 13  # ReduceSum and Squeeze take axes as inputs from 13 on: one form of the wrapper nodes
INPUT, OUTPUT, CONFIDENCE, LOGITS = "frame", "mask", "confidence", "logits"


def deploy_graph(src: BodyGraph, opset: int, dynamic: bool = False, confidence: bool = False, logits: bool = False,
                 fp16_keep: list[str] | None = None):
    """The deploy graph (an ``onnx.ModelProto``) of ``src`` under its contract. With ``fp16_keep`` (node
    names of this graph) the user's graph runs in FP16 but for those nodes, the wrapper's nodes in FP32."""
    onnx = require("onnx")
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    if opset < MIN_OPSET:
        raise ConfigError(f"--opset {opset}: a wrapped ONNX graph needs opset {MIN_OPSET} or newer")
    if src.kind == "ids" and (confidence or logits):
        raise ConfigError(f"{'--confidence' if confidence else '--logits'} needs a graph that outputs logits; "
                          f"'{src.output}' holds class ids")
    model = converted(src.model, src.opset, opset)
    model = onnx.compose.add_prefix(model, PREFIX)
    g = model.graph
    _rename_nodes(g)
    if fp16_keep is not None:
        g = _half(model, fp16_keep).graph
    h, w = src.size
    nodes, inits, count = [], [], []

    def const(name: str, value) -> str:
        name = name if "/" in name else f"/pre/{name}"
        while any(t.name == name for t in inits):
            name += "_"
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, ins: list[str], out: str | None = None, **attrs) -> str:
        count.append(op)
        out = out or f"/deploy/{op}_{len(count)}_out"
        nodes.append(helper.make_node(op, ins, [out], name=f"/deploy/{op}_{len(count)}", **attrs))
        return out

    _pre(node, const, src)
    split = len(nodes)
    outputs = _post(node, const, src, dynamic, confidence, logits, opset)
    batch = "N" if src.batch_dynamic else 1
    hw = ["H", "W"] if dynamic else [h, w]
    kept, used = _live(nodes[:split] + list(g.node) + nodes[split:], [n for n, _, _ in outputs])
    graph = helper.make_graph(
        kept, "unet_edge_deploy",
        [helper.make_tensor_value_info(INPUT, T.UINT8, [batch, *hw, 3])],
        [helper.make_tensor_value_info(n, t, [batch, src.contract.num_classes, *hw] if four else [batch, *hw])
         for n, t, four in outputs],
        initializer=[t for t in inits + list(g.initializer) if t.name in used])
    graph.sparse_initializer.extend(g.sparse_initializer)
    imports = [helper.make_opsetid("", opset)] + [o for o in model.opset_import if o.domain not in ("", "ai.onnx")]
    out = helper.make_model(graph, opset_imports=imports, functions=list(model.functions),
                            ir_version=max(helper.find_min_ir_version_for(imports), model.ir_version))
    out.producer_name = "unet-edge"
    return out


def _pre(node, const, src: BodyGraph) -> None:
    """Pre-processing, in NHWC: the channel swap is a Gather, the normalisation one Mul and one Sub."""
    from onnx import TensorProto as T

    contract = src.contract
    (h, w), (ph, pw) = src.size, src.padded
    x = node("Cast", [INPUT], to=T.FLOAT)
    mean, std = np.asarray(contract.mean, np.float32), np.asarray(contract.std, np.float32)
    if contract.color == "rgb":
        x = node("Gather", [x, const("rgb", np.array([2, 1, 0], np.int64))], axis=3)
    else:
        mean, std = mean[::-1], std[::-1]  # the contract's mean/std are RGB-ordered
    if np.any(mean != 0) or np.any(std != 1):
        x = node("Mul", [x, const("scale", (1.0 / std).astype(np.float32).reshape(1, 1, 1, 3))])
        x = node("Sub", [x, const("shift", (mean / std).astype(np.float32).reshape(1, 1, 1, 3))])
    if (ph, pw) != (h, w):  # zeros after normalising (the dataset mean), cropped off the output
        x = node("Pad", [x, const("pads", np.array([0, 0, 0, 0, 0, ph - h, pw - w, 0], np.int64))])
    if src.layout == "nchw":
        x = node("Transpose", [x], perm=[0, 3, 1, 2])
    node("Cast", [x], PREFIX + src.input, to=src.input_type)


def _post(node, const, src: BodyGraph, dynamic: bool, confidence: bool, logits: bool, opset: int) -> list:
    """Post-processing: the class ids (and confidence), or the logits, at the frame's size; returns the
    outputs as (name, element type, whether 4-D)."""
    from onnx import TensorProto as T

    ph, pw = src.padded
    y = PREFIX + src.output
    shape = src.output_shape
    out_h, out_w = shape[2:4] if len(shape) == 4 and src.output_layout == "nchw" else shape[1:3]
    if src.kind == "ids":
        if len(src.output_shape) == 4:
            axis = 1 if src.output_layout == "nchw" else 3
            y = node("Squeeze", [y, const("/post/class_axis", np.array([axis], np.int64))])
        y = node("Cast", [y], to=T.FLOAT)
        if (out_h, out_w) != (ph, pw):  # nearest, as cv2.INTER_NEAREST picks
            y = node("Resize", [y, "", "", _sizes(node, const, y, src, 0, dynamic, 1)], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        y = _crop(node, const, y, src, 1)
        outputs = [(node("Cast", [y], OUTPUT, to=T.UINT8), T.UINT8, False)]
    else:
        y = node("Cast", [y], to=T.FLOAT)  # a float16 or double head: the argmax input is float32
        if src.output_layout == "nhwc":
            y = node("Transpose", [y], perm=[0, 3, 1, 2])
        if (out_h, out_w) != (ph, pw):
            sizes = _sizes(node, const, y, src, src.contract.num_classes, dynamic, 2)
            y = node("Resize", [y, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
        y = _crop(node, const, y, src, 2)
        if logits:
            outputs = [(node("Identity", [y], LOGITS), T.FLOAT, True)]
        else:
            ids = node("Cast", [node("Cast", [node("ArgMax", [y], axis=1, keepdims=0)], to=T.FLOAT)], to=T.UINT8)
            outputs = [(node("Identity", [ids], OUTPUT), T.UINT8, False)]
            if confidence:
                outputs.append((_confidence(node, const, y, opset, src.probabilities), T.UINT8, False))
    return outputs


def _sizes(node, const, y: str, src: BodyGraph, n: int, dynamic: bool, lead: int) -> str:
    """Resize's ``sizes``: ``y``'s batch (and class) dims, then the frame's height and width. Constant
    where the graph is fully static, so that shape inference (and TensorRT) see every shape."""
    h, w = src.padded
    if not dynamic and not src.batch_dynamic:
        return const("/post/sizes", np.array([1, n, h, w][: lead] + [h, w], np.int64))
    keep = node("Slice", [node("Shape", [y]), const("/post/zero", np.array([0], np.int64)),
                          const("/post/lead", np.array([lead], np.int64))])
    if dynamic:
        hw = node("Slice", [node("Shape", [INPUT]), const("/post/one", np.array([1], np.int64)),
                            const("/post/three", np.array([3], np.int64))])
    else:
        hw = const("/post/hw", np.array([h, w], np.int64))
    return node("Concat", [keep, hw], axis=0)


def _crop(node, const, y: str, src: BodyGraph, axis: int) -> str:
    """``y`` cropped back to the export size where the input was padded (height at ``axis``)."""
    if src.padded == src.size:
        return y
    return node("Slice", [y, const("/post/crop_start", np.array([0, 0], np.int64)),
                          const("/post/crop_end", np.array(src.size, np.int64)),
                          const("/post/crop_axes", np.array([axis, axis + 1], np.int64))])


def _confidence(node, const, y: str, opset: int, probabilities: bool = False) -> str:
    """uint8 round(255 x max softmax probability) = floor(255 / sum(exp(logit - max)) + 0.5), in FP32;
    of a graph that outputs probabilities, floor(255 x max + 0.5)."""
    from onnx import TensorProto as T

    axes = const("/post/axes", np.array([1], np.int64))
    keep = 0 if probabilities else 1
    top = node("ReduceMax", [y, axes], keepdims=keep) if opset >= 18 else node("ReduceMax", [y], axes=[1],
                                                                               keepdims=keep)
    if probabilities:
        share = top
    else:
        share = node("Reciprocal", [node("ReduceSum", [node("Exp", [node("Sub", [y, top])]), axes], keepdims=0)])
    prob = node("Mul", [share, const("/post/255", np.array(255.0, np.float32))])
    rounded = node("Floor", [node("Add", [prob, const("/post/half", np.array(0.5, np.float32))])])
    return node("Cast", [rounded], CONFIDENCE, to=T.UINT8)


def converted(model, have: int, want: int):
    """``model`` at opset ``want`` (onnx.version_converter where they differ)."""
    if have == want:
        return model
    onnx = require("onnx")
    try:
        return onnx.version_converter.convert_version(model, want)
    except Exception as exc:
        raise ExportError(f"cannot convert the ONNX graph from opset {have} to {want} "
                          f"({str(exc).strip().splitlines()[0][:160]}): pass --opset {have}") from exc


def _half(model, keep: list[str]):
    """``model`` in FP16 with float32 input and outputs (its names unchanged), ``keep`` in FP32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=list(keep))
    _skip_round_trips(half.graph)
    _saturate_islands(half.graph, set(keep))
    OnnxModel(half).topological_sort()  # the converter appends its Casts at the end
    del half.graph.value_info[:]
    return half


def _skip_round_trips(g) -> None:
    """The float16 converter joins two FP32 nodes (kept islands, the FP32 input and outputs) through
    an FP32 -> FP16 -> FP32 pair of Casts: it rounds the island's result to FP16 for nothing, and a
    drifting layer followed by another island loses what keeping it bought. The second Cast reads the
    first's input instead (a Cast to FP32 of FP32 is the identity), and Casts no one reads go."""
    from onnx import TensorProto

    def to(n) -> int | None:
        return next((a.i for a in n.attribute if a.name == "to"), None) if n.op_type == "Cast" else None

    producer = {o: n for n in g.node for o in n.output}
    for n in g.node:
        p = producer.get(n.input[0]) if to(n) == TensorProto.FLOAT else None
        if p is not None and to(p) == TensorProto.FLOAT16:
            n.input[0] = p.input[0]
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    dead = [n for n in g.node if n.op_type == "Cast" and not used.intersection(n.output)]
    for n in dead:
        g.node.remove(n)


def _saturate_islands(g, keep: set[str]) -> None:
    """An FP32 island read by FP16 layers hands them its output saturated to the FP16 range (a Clip
    before the converter's Cast), not overflowed to inf. The last island, read in FP32, is left as is."""
    from onnx import TensorProto, helper, numpy_helper

    from unet_edge.export.thresholds import FP16_MAX

    island_out = {o for n in g.node if n.name in keep for o in n.output}
    casts = [n for n in g.node if n.op_type == "Cast" and n.input[0] in island_out
             and any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in n.attribute)]
    if not casts:
        return
    g.initializer.extend([numpy_helper.from_array(np.array(-FP16_MAX, np.float32), "/fp16/min"),
                          numpy_helper.from_array(np.array(FP16_MAX, np.float32), "/fp16/max")])
    for cast in casts:
        clipped = f"{cast.input[0]}/fp16_saturated"
        at = list(g.node).index(cast)
        g.node.insert(at, helper.make_node("Clip", [cast.input[0], "/fp16/min", "/fp16/max"], [clipped],
                                           name=f"{cast.name}/saturate"))
        cast.input[0] = clipped


def _live(nodes: list, outputs: list[str]) -> tuple[list, set[str]]:
    """The nodes that ``outputs`` depend on, in order, and the tensors they read (subgraphs' included):
    what only the source's other outputs needed is dropped."""
    need, keep = set(outputs), []
    for n in reversed(nodes):
        if need.intersection(n.output):
            keep.append(n)
            need.update(n.input)
            for a in n.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    need.update(i for m in sub.node for i in m.input)
    return keep[::-1], need


def _rename_nodes(g) -> None:
    """``src/enc/conv/Conv`` -> ``/model/enc/conv/Conv``; an unscoped ``conv1`` -> ``/model/conv1/Conv``;
    an unnamed node -> ``/model/Conv_7/Conv``. Unique, and module_path reads the scope back."""
    seen: set[str] = set()
    for i, n in enumerate(g.node):
        name = n.name[len(PREFIX):] if n.name.startswith(PREFIX) else n.name
        name = name.strip("/") or f"{n.op_type}_{i}"
        new = f"/model/{name}" if "/" in name else f"/model/{name}/{n.op_type}"
        while new in seen:
            new += "_"
        seen.add(new)
        n.name = new
    del g.value_info[:]  # the source's shape hints may name its own (dynamic) sizes: inferred again
