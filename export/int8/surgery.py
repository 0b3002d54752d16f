"""Float layers by graph surgery: a layer of a QDQ graph made to compute in float again, so that every
float-layer choice of the INT8 search is cut from one quantized graph instead of quantizing anew."""

from __future__ import annotations

from unet_edge.core.lazy import require


def keep_float(model, fp32, names: list[str], quantized_ops: frozenset[str] | None = None):
    """A copy of QDQ ``model`` in which the nodes ``names`` compute in float: each input reads the FP32
    graph's tensor again (a weight or bias: its initializer, as NNCF's bias correction changed it; an
    activation: the float tensor before its QuantizeLinear). Where the quantizer folded the op that made
    that tensor into a QuantizeLinear's range (a Relu, a Clip) or moved it onto the quantized tensor (a
    DepthToSpace), the FP32 graph's op is put back in float for it, else the float layer would read what
    the rounding alone stood for.

    With ``quantized_ops`` (the op types the quantizer quantized), a float node's output is rounded only
    where a quantized op reads it: another op (a Relu between two convs in TensorRT's flavour) reads it
    in float, as ONNX Runtime's quantizer leaves the output of a node it excludes."""
    onnx = require("onnx")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    cut = _Surgery(onnx, out.graph, fp32.graph, names)
    cut.restore(_float_inputs(out.graph, names, cut.fp32_nodes, quantized_ops))
    return prune_unread(out)


def _float_inputs(g, names: list[str], fp32_nodes: dict, quantized_ops: frozenset[str] | None) -> dict:
    """Node name -> the input indices to read in float (None: all): every input of ``names``, and with
    ``quantized_ops`` the inputs of each op outside them that reads a float node's output through a Q/DQ
    pair, so that only a quantized op reads it rounded."""
    restore: dict[str, list[int] | None] = {n: None for n in names}
    if quantized_ops is None:
        return restore
    readers: dict[str, list] = {}
    for n in g.node:
        for k, i in enumerate(n.input):
            readers.setdefault(i, []).append((n, k))
    for n in [n for n in g.node if n.name in names]:
        for q, _ in (r for o in n.output for r in readers.get(o, []) if r[0].op_type == "QuantizeLinear"):
            for dq, _ in (r for r in readers.get(q.output[0], []) if r[0].op_type == "DequantizeLinear"):
                for c, k in readers.get(dq.output[0], []):
                    if c.op_type not in quantized_ops and c.name not in names and c.name in fp32_nodes:
                        restore[c.name] = [*(restore.get(c.name) or []), k]
    return restore


def _rounded(g, producer: dict, names: list[str]) -> dict[str, str]:
    """An INT8 op's output -> its rounded (DequantizeLinear) form. An op the quantizer folded (a Relu into
    its conv's range) is put back reading that, as ONNX Runtime leaves the Relu before a node it
    excludes: the INT8 conv before it still fuses into one kernel. A float layer never reads a
    DequantizeLinear itself: ONNX Runtime's optimizer would quantize its float weights again."""
    rounded: dict[str, str] = {}
    for dq in g.node:
        q = producer.get(dq.input[0]) if dq.op_type == "DequantizeLinear" else None
        made = producer.get(q.input[0]) if q is not None and q.op_type == "QuantizeLinear" else None
        if made is not None and made.name not in names and made.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            rounded.setdefault(q.input[0], dq.output[0])
    return rounded


class _Surgery:
    """One keep_float's cut: the QDQ graph ``g`` being edited and the FP32 graph whose tensors it reads
    again. The maps are taken before the first edit, as the cut is defined on the graph it was given."""

    def __init__(self, onnx, g, fp32, names: list[str]) -> None:
        self.onnx, self.g = onnx, g
        self.fp32_nodes = {n.name: n for n in fp32.node}
        self.fp32_producer = {o: n for n in fp32.node for o in n.output}
        self.fp32_inits = {t.name: t for t in fp32.initializer}
        self.quantized_weights = {t.name for t in g.initializer}
        self.tensors = {o for n in g.node for o in n.output} | {i.name for i in g.input} | self.quantized_weights
        self.nodes = {n.name: n for n in g.node}
        self.here: dict[str, str] = {}  # FP32 tensor -> the float tensor that holds it here
        self.producer = {o: n for n in g.node for o in n.output}
        self.rounded = _rounded(g, self.producer, names)

    def restore(self, which_inputs: dict[str, list[int] | None]) -> None:
        """Make the inputs ``which_inputs`` names (node -> indices, None: all) read their float tensors."""
        g, i = self.g, 0
        while i < len(g.node):
            node = g.node[i]
            if node.name in which_inputs and node.name in self.fp32_nodes:
                original, which = self.fp32_nodes[node.name], which_inputs[node.name]
                for k, source in enumerate(original.input[: len(node.input)]):
                    if (which is None or k in which) and not self.int8_tensor(node.input[k]):
                        name, i = self.float_tensor(source, i)
                        g.node[i].input[k] = name
            i += 1

    def float_tensor(self, name: str, at: int) -> tuple[str, int]:
        """The FP32 graph's tensor ``name`` made to exist in ``g`` before node ``at``: the name to read
        and the index the node that was at ``at`` has now."""
        if name in self.here:
            return self.here[name], at
        if name in self.fp32_inits:  # a weight or bias (ONNX Runtime names a DequantizeLinear's output alike)
            self.here[name] = f"{name}/float" if name in self.tensors else name
            self.g.initializer.append(self.fp32_inits[name])
            self.g.initializer[-1].name = self.here[name]
            self.tensors.add(self.here[name])
            return self.here[name], at
        made = self.fp32_producer.get(name)
        if made is None:  # a graph input
            return name, at
        twin = self.nodes.get(made.name)
        if twin is not None and twin.op_type == made.op_type:  # the same op here: its output, maybe renamed
            self.here[name] = twin.output[list(made.output).index(name)]
            return self.here[name], at
        return self._put_back(made, name, at)

    def _put_back(self, made, name: str, at: int) -> tuple[str, int]:
        """The FP32 op ``made`` that was folded into a QuantizeLinear's range (Relu, Clip) or moved onto the
        quantized tensor, inserted in float before node ``at``; its inputs made float first."""
        copy = self.onnx.NodeProto()
        copy.CopyFrom(made)
        copy.name = f"{made.name}/float"
        for k, i in enumerate(made.input):
            copy.input[k], at = self.float_tensor(i, at)
            copy.input[k] = self.rounded.get(copy.input[k], copy.input[k])
        for k, o in enumerate(made.output):
            copy.output[k] = o if o not in self.tensors else f"{o}/float"
        self.g.node.insert(at, copy)
        self.tensors.update(copy.output)
        self.here.update(zip(made.output, copy.output))
        return self.here[name], at + 1

    def int8_tensor(self, name: str) -> bool:
        """Whether ``name`` is read from an INT8 tensor an op made (a DepthToSpace moved onto it), which
        has no float original here: a float layer reads it as it is."""
        dq = self.producer.get(name)
        return (dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] not in self.quantized_weights
                and getattr(self.producer.get(dq.input[0]), "op_type", None) != "QuantizeLinear")


def prune_unread(model):
    """Drop the nodes and initializers nothing reads any more (the bypassed Q/DQ pairs)."""
    g = model.graph
    outputs = {o.name for o in g.output}
    while True:
        read = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    read = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in read]:
        g.initializer.remove(t)
    return model
