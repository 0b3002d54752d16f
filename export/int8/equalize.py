"""Activation equalisation before INT8: exact in float, kinder to per-tensor activation ranges.

A network without BatchNorm can leave one channel of an activation 100x wider than its neighbours;
one per-tensor INT8 scale then gives the narrow channels a few levels each. ReLU, max pooling,
zero padding, concatenation and interpolation are positively homogeneous per channel, so channel ``i``
of a conv's output can be divided by ``s_i`` and every conv reading it multiply its input channel ``i``
by ``s_i``: the float graph computes the same function. With ``s_i = sqrt(a_i / w_i)`` (``a_i`` the
channel's calibrated range, ``w_i`` the largest weight reading it) both sides meet at ``sqrt(a_i w_i)``,
SmoothQuant's balance (Xiao et al. 2023; Nagel et al. 2019 equalise weights alone). The search tries
the graph with and without and keeps the one that agrees better.

TensorRT's flavour quantizes a conv's output before its Relu, so its ranges are taken there, negatives
included: a channel scaled up for its narrow positive side would otherwise blow its negative side up
into the whole tensor's range (width-32 U-Net without BN, 176x240, 16 frames: 97.10% agreement plain,
73% with post-Relu ranges, 97.59% with these).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.lazy import require
from unet_edge.export.frame_sets import spread
from unet_edge.export.int8.graph_facts import Probe

# A tensor is equalised only where its widest channel's range is at least this many times its median
# channel's: equalising gives the typical channel about sqrt(ratio) more INT8 levels, under 1.6x below
# this, and the equalised graph costs a second statistics pass (27 s of lite0's 352x480 export). Measured
# widest/median: lite0 on CamVid 1.2-2.2x (10 tensors; its equalised graph never chosen); a BN-free U-Net
# after one epoch 1.5-13.5x after its Relus (15 of 23 above) and 1.4-3.2x before them (TensorRT's).
MIN_IMBALANCE = 2.5

# ops that pass channel i through as a positive multiple of channel i (a scale commutes with them)
_HOMOGENEOUS = ("Relu", "MaxPool", "Resize", "Upsample", "Pad", "Identity", "Dropout")


@dataclass
class _Pair:
    tensor: str  # the activation whose channels are scaled
    producer: object  # Conv / ConvTranspose node writing it (before Relu / DepthToSpace)
    block: int  # DepthToSpace block size between them (1: none)
    readers: list  # (conv node, channel offset of the tensor in its input)
    raw: str  # the producer's output before its Relu, negatives and all


def equalize(src: Path, dest: Path, frames: list[np.ndarray], signed: bool = False, max_frames: int = 16) -> list[str]:
    """Write ``src`` with its activations equalised to ``dest``; returns the tensors equalised (none:
    nothing to do or no channel range ``MIN_IMBALANCE`` times its median, ``dest`` not written). Ranges
    come from up to ``max_frames`` of ``frames`` (uint8 NHWC BGR, the graph's input), spread over them.
    ``signed``: the conv's output is quantized before its Relu (TensorRT's placement), so its negative
    side counts in the range too."""
    onnx = require("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(src))
    _private_weights(model)
    pairs = _pairs(model)
    if not pairs:
        return []
    weights = {t.name: numpy_helper.to_array(t).copy() for t in model.graph.initializer}
    measured = {p.tensor: p.raw if signed else p.tensor for p in pairs}
    ranges = _channel_ranges(model, sorted(set(measured.values())), frames, max_frames)
    done = []
    for p in pairs:
        a = ranges[measured[p.tensor]]
        w = np.zeros_like(a)
        for node, off in p.readers:
            wt = weights[node.input[1]]
            part = wt[:, off:off + len(a)] if node.op_type == "Conv" else wt[off:off + len(a)].swapaxes(0, 1)
            w = np.maximum(w, np.abs(part).max(axis=(0, 2, 3)))
        live = (a > 1e-6 * a.max()) & (w > 0)
        if live.sum() < 2 or a[live].max() < MIN_IMBALANCE * np.median(a[live]):
            continue
        s = np.ones_like(a)
        s[live] = np.sqrt(a[live] / w[live])
        s[live] /= np.exp(np.mean(np.log(s[live])))  # the typical channel keeps its scale
        _scale_producer(p, weights, s)
        for node, off in p.readers:
            wt = weights[node.input[1]]
            if node.op_type == "Conv":
                wt[:, off:off + len(s)] *= s[None, :, None, None]
            else:  # ConvTranspose (cin, cout, kh, kw)
                wt[off:off + len(s)] *= s[:, None, None, None]
        done.append(p.tensor)
    if not done:
        return []
    for t in model.graph.initializer:
        if t.name in weights:
            t.CopyFrom(numpy_helper.from_array(weights[t.name].astype(numpy_helper.to_array(t).dtype), t.name))
    onnx.save_model(model, str(dest))
    return done


def _scale_producer(p: _Pair, weights: dict, s: np.ndarray) -> None:
    node = p.producer
    s = np.repeat(s, p.block * p.block)  # DepthToSpace (CRD) reads channel c*b*b + k into channel c
    w = weights[node.input[1]]
    if node.op_type == "Conv":
        w /= s[:, None, None, None]
    else:
        w /= s[None, :, None, None]
    if len(node.input) > 2 and node.input[2]:
        weights[node.input[2]] /= s


def _private_weights(model) -> None:
    """Give every conv its own weight and bias initializers: the exporter shares equal tensors (zero
    biases) between convs, through Identity nodes, and scaling one conv's copy must not scale another's."""
    from onnx import numpy_helper

    values = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Identity" and n.input[0] in values:
            values[n.output[0]] = values[n.input[0]]
        elif n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = n.attribute[0].t
    uses: dict[str, int] = {}
    for n in model.graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    inits = {t.name for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type not in ("Conv", "ConvTranspose"):
            continue
        for k in range(1, len(n.input)):
            name = n.input[k]
            if name in values and (name not in inits or uses[name] > 1):
                private = f"{n.name}/param{k}"
                model.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(values[name]), private))
                n.input[k] = private


def _attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return a.i if a.type == a.INT else a.s.decode() if a.type == a.STRING else a
    return default


def _pairs(model) -> list[_Pair]:
    """Every conv output (through a Relu, or a CRD DepthToSpace) whose every reader is a conv, through
    homogeneous ops and channel concatenation only."""
    onnx = require("onnx")
    graph = onnx.shape_inference.infer_shapes(model).graph
    channels = {v.name: v.type.tensor_type.shape.dim[1].dim_value for v in [*graph.value_info, *graph.input]
                if len(v.type.tensor_type.shape.dim) == 4}
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {t.name for t in model.graph.initializer}
    uses = {name: len(consumers.get(name, [])) for name in inits}
    outputs = {o.name for o in model.graph.output}

    def plain_conv(n) -> bool:
        return (n.op_type in ("Conv", "ConvTranspose") and _attr(n, "group", 1) == 1 and n.input[1] in inits
                and uses[n.input[1]] == 1 and all(b in inits and uses[b] == 1 for b in n.input[2:] if b))

    pairs = []
    for n in model.graph.node:
        if not plain_conv(n):
            continue
        tensor, block = n.output[0], 1
        after = consumers.get(tensor, [])
        if len(after) == 1 and after[0].op_type == "Relu":
            tensor, after = after[0].output[0], consumers.get(after[0].output[0], [])
        raw = n.output[0]
        if (len(after) == 1 and after[0].op_type == "DepthToSpace" and _attr(after[0], "mode", "DCR") == "CRD"):
            block, tensor = _attr(after[0], "blocksize"), after[0].output[0]
            raw = tensor if raw == n.output[0] else raw
        readers = _readers(tensor, consumers, channels, outputs, plain_conv)
        if readers and (block == 1 or raw == tensor):  # a Relu before a DepthToSpace: channels apart
            pairs.append(_Pair(tensor, n, block, readers, raw))
    return pairs


def _readers(tensor: str, consumers: dict, channels: dict, outputs: set, plain_conv) -> list | None:
    readers, frontier = [], [(tensor, 0)]
    while frontier:
        t, off = frontier.pop()
        if t in outputs or not consumers.get(t):
            return None
        for c in consumers[t]:
            if plain_conv(c) and c.input[0] == t:
                readers.append((c, off))
            elif c.op_type in _HOMOGENEOUS and c.input[0] == t and list(c.input).count(t) == 1 \
                    and (c.op_type != "Pad" or _attr(c, "mode", "constant") == "constant"
                         and (len(c.input) < 3 or not c.input[2])) \
                    and len(c.output) == 1:
                frontier.append((c.output[0], off))
            elif c.op_type == "Concat" and _attr(c, "axis") == 1 and list(c.input).count(t) == 1:
                before = list(c.input)[: list(c.input).index(t)]
                if any(not channels.get(b) for b in before):
                    return None
                frontier.append((c.output[0], off + sum(channels[b] for b in before)))
            else:
                return None
    return readers


def _channel_ranges(model, tensors: list[str], frames: list[np.ndarray], max_frames: int) -> dict[str, np.ndarray]:
    """Per-channel max |x| of ``tensors`` over up to ``max_frames`` frames, from a float run."""
    probe = Probe(model, tensors)
    out: dict[str, np.ndarray] = {}
    for frame in spread(frames, max_frames):
        for t, x in zip(tensors, probe.run(frame, tensors)):
            m = np.abs(x).max(axis=(0, 2, 3))
            out[t] = m if t not in out else np.maximum(out[t], m)
    return out

