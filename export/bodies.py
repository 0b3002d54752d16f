"""Every model form becomes one :class:`Body`, the thing the export pipeline (:mod:`.exporter`) takes.

A body is a float-logits ONNX graph read under its typed contract (:class:`.onnx_body.BodyGraph`:
input, layout, size, which output holds the logits), the identity the sidecar records, and the
reference runner the precision gate compares every artifact with:

- a checkpoint of ``unet-edge train`` and every PyTorch form of a model unet-edge did not train (state
  dict with its class, torch.export, TorchScript, a trusted pickle): BatchNorm folded (and the
  sub-pixel rewrite where asked) in PyTorch, then the body (normalised RGB NCHW in, NCHW logits out)
  exported once by ``torch.onnx``; its reference is the same model in eager PyTorch;
- a float ONNX graph from any exporter: read as it is; its reference is that graph in ONNX Runtime.

From there nothing depends on where the model came from: one deploy wrapper (:mod:`.deploy_graph`),
one FP16 route (:mod:`.fp16_onnx`), one INT8 stage, one gate.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from unet_edge.core.errors import ConfigError, ExportError
from unet_edge.core.lazy import require
from unet_edge.export import onnx_body as fo
from unet_edge.models.contract import ORIGIN_KEYS, IOContract
from unet_edge.models.foreign import ForeignSpec
from unet_edge.runtime.runners import Runner

BODY_INPUT, BODY_OUTPUT = "x", "logits"


@dataclass(frozen=True)
class ModelIdentity:
    """What the sidecar records of where an artifact came from."""

    arch: str
    model_options: dict
    source_file: Path
    metrics: dict | None = None
    model_source: dict = field(default_factory=dict)  # what was given: the form, class, kwargs, ...
    contract: dict = field(default_factory=dict)  # the input/output contract as stated (IOContract.to_json)


@dataclass
class Body:
    """A model ready for the export stages."""

    graph: fo.BodyGraph  # the float ONNX body, inspected at the export size under its contract
    identity: ModelIdentity
    open_reference: Callable[[tuple[int, int]], Runner]  # the FP32 reference runner at a size (has .logits)
    reference_name: str  # what the gate compares against, in words
    multiple: int  # a dynamic graph's inputs must be multiples of this
    module_paths: list[str] = field(default_factory=list)  # module names of a PyTorch model, for layer names
    cpu_int8_graph: fo.BodyGraph | None = None  # the sub-pixel body the CPU INT8 flavour quantizes

    @property
    def contract(self) -> IOContract:
        return self.graph.contract


def open_body(path: Path, spec: ForeignSpec | None, opts, log: Callable[[str], None]) -> Body:
    """The :class:`Body` of any MODEL per ``opts`` (ExportOptions)."""
    from unet_edge.core.tensorflow_files import refuse_tensorflow
    from unet_edge.export.graph_reference import is_foreign_onnx

    refuse_tensorflow(path)  # a Keras or TensorFlow model: the tf2onnx command that makes its ONNX graph
    if is_foreign_onnx(path):
        return _onnx_body(path, spec, opts, log)
    return _torch_body(path, spec, opts, log)


def _onnx_body(path: Path, spec: ForeignSpec | None, opts, log: Callable[[str], None]) -> Body:
    from unet_edge.export.graph_reference import GraphReference

    spec = check_graph_spec(path, spec)
    if opts.subpixel:
        raise ConfigError("--subpixel rewrites PyTorch ConvTranspose modules: it does not apply to an ONNX graph")
    spec.contract.require_stated(path.name)
    model = fo.load(path)
    if opts.simplify:
        model = simplified(model)
    src = fo.inspect(model, spec.contract, tuple(opts.size) if opts.size else None, opts.dynamic, path.name)
    log(f"{path.name}: {src.layout.upper()} input '{src.input}' at {src.size[0]}x{src.size[1]}, {src.kind} output "
        f"'{src.output}' {list(src.output_shape)} ({src.output_layout.upper()}), opset {src.opset}"
        + ("; it ends in a Softmax over the classes: read as probabilities" if src.probabilities else ""))
    identity = ModelIdentity(f"foreign:onnx:{path.name}", {}, path, None,
                             {"kind": "onnx", "source": path.name, **src.describe()}, src.contract.to_json())
    return Body(src, identity, lambda _size: GraphReference(path, src), f"{path.name} in ONNX Runtime",
                src.contract.multiple_of)


def check_graph_spec(path: Path, spec: ForeignSpec | None) -> ForeignSpec:
    """The spec of an ONNX graph: its contract applies, the code options do not."""
    spec = spec or ForeignSpec()
    if spec.model_class or spec.model_kwargs or spec.python_path or spec.trust_pickle:
        raise ConfigError(f"{path.name}: an ONNX graph carries its own code: drop --model-class, --model-kwargs, "
                          "--python-path and --trust-pickle")
    return spec


def _torch_body(path: Path, spec: ForeignSpec | None, opts, log: Callable[[str], None]) -> Body:
    import copy

    from unet_edge.export.foreign_torch import open_torch_model
    from unet_edge.export.int8.graph_facts import module_paths
    from unet_edge.export.subpixel import deconv_to_subpixel, has_strided_deconv

    model_file = open_torch_model(path, spec, opts.size, log)
    model, ckpt = model_file.model, model_file.ckpt
    declared = getattr(model, "size_multiple", None)  # a model's own padding stride, where it states one
    multiple = int(declared or 16)
    if opts.size and declared:
        check_size(tuple(opts.size), multiple, ckpt.arch)
    size = tuple(opts.size or ckpt.input_size)
    if opts.dynamic:  # the architecture pads inside to its own stride: dynamic inputs come as multiples
        size = tuple(-(-s // multiple) * multiple for s in size)
    contract = IOContract(mean=tuple(255.0 * m for m in ckpt.mean), std=tuple(255.0 * s for s in ckpt.std),
                          norm=None, multiple_of=multiple if opts.dynamic else 1, output=BODY_OUTPUT,
                          classes=tuple(ckpt.info.names), palette=tuple(tuple(c) for c in ckpt.info.palette),
                          ignore_index=int(ckpt.info.ignore_index))
    if opts.subpixel:
        model = deconv_to_subpixel(model)
    src = _inspected(model, contract, size, opts, path.name)
    cpu_int8 = None
    if opts.int8 and opts.int8_target == "cpu" and not opts.subpixel and has_strided_deconv(model):
        # ONNX Runtime has no INT8 ConvTranspose: it would run every up-sampling in float between a DQ
        # and a Q. The exact Conv + DepthToSpace form quantizes end to end.
        cpu_int8 = _inspected(deconv_to_subpixel(copy.deepcopy(model)), contract, size, opts, path.name)
    given = ckpt.model_source or {"kind": "unet-edge", "source": path.name}
    # a foreign model's own contract, not its body's; a checkpoint's records every value
    stated = ckpt.contract or replace(contract, origin=dict.fromkeys(ORIGIN_KEYS, "checkpoint")).to_json()
    if opts.size:
        stated = {**stated, "origin": {**(stated.get("origin") or {}), "size": "--size"}}
    identity = ModelIdentity(ckpt.arch, dict(ckpt.model_options), path, ckpt.metrics, dict(given), stated)
    return Body(src, identity, model_file.open_reference, "PyTorch eager", multiple, module_paths(model), cpu_int8)


def check_size(size: tuple[int, int], multiple: int, arch: str) -> None:
    """Refuse a ``--size`` that is not a multiple of the model's stride, naming the nearest one above."""
    if all(s % multiple == 0 for s in size):
        return
    up = [-(-s // multiple) * multiple for s in size]
    raise ConfigError(f"--size {size[0]}x{size[1]}: {arch} takes heights and widths in multiples of {multiple} "
                      f"(its stride); e.g. --size {up[0]}x{up[1]}")


def _inspected(model, contract: IOContract, size: tuple[int, int], opts, name: str) -> fo.BodyGraph:
    """The float ONNX body of a PyTorch ``model`` (normalised RGB NCHW ``x`` in, NCHW ``logits`` out),
    exported at ``size`` and read under ``contract``."""
    graph = body_graph(model, size, opts.opset, opts.dynamic)
    if opts.simplify:
        graph = simplified(graph)
    return fo.inspect(graph, contract, size, opts.dynamic, name)


def body_graph(model, size: tuple[int, int], opset: int, dynamic: bool = False):
    """``model`` exported by the TorchScript exporter (it emits opset 17 directly, where the dynamo
    exporter implements opset >= 18 only and down-converts afterwards), as an ``onnx.ModelProto``."""
    onnx = require("onnx")
    torch = require("torch")
    x = torch.zeros(1, 3, *size)
    axes = {BODY_INPUT: {0: "N", 2: "H", 3: "W"}, BODY_OUTPUT: {0: "N", 2: "H", 3: "W"}} if dynamic else None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic are expected here
        try:
            torch.onnx.export(model.eval(), (x,), buf, opset_version=opset, dynamo=False, input_names=[BODY_INPUT],
                              output_names=[BODY_OUTPUT], dynamic_axes=axes, do_constant_folding=True)
        except Exception as exc:
            raise ExportError(f"ONNX export failed at opset {opset}: {str(exc).splitlines()[0][:200]}") from exc
    return onnx.load_from_string(buf.getvalue())


def simplified(model):
    """``model`` simplified by onnxslim (or onnxsim where only it is installed)."""
    try:
        import onnxslim

        return onnxslim.slim(model)
    except ImportError:
        pass
    try:
        from onnxsim import simplify

        result, ok = simplify(model)
        return result if ok else model
    except ImportError as exc:
        raise ExportError("--simplify needs onnxslim or onnxsim: pip install onnxslim") from exc
