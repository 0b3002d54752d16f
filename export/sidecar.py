"""The one builder of an export's sidecar (``<artifact>.json``, also in the ONNX ``metadata_props``):
the same keys for every model form, so that the runtime, ``build`` and ``--like`` read one shape."""

from __future__ import annotations

import datetime as _dt

from unet_edge.core import sysinfo
from unet_edge.core.io import file_sha256
from unet_edge.export.bodies import Body
from unet_edge.export.deploy_graph import CONFIDENCE, INPUT, LOGITS, OUTPUT


def base_meta(body: Body, opts) -> dict:
    """What every artifact of one export shares (``opts``: ExportOptions); each stage adds its precision
    and what it did (``fp16``, ``int8``, ``float_layers``)."""
    src, ident = body.graph, body.identity
    contract = src.contract
    h, w = src.size
    batch = "N" if src.batch_dynamic else 1
    hw = ["H", "W"] if opts.dynamic else [h, w]
    n = contract.num_classes
    out_shape = [batch, n, *hw] if opts.logits else [batch, *hw]
    outputs = [{"name": LOGITS if opts.logits else OUTPUT, "shape": out_shape,
                "dtype": "float32" if opts.logits else "uint8", "semantics": "logits" if opts.logits else "class_ids"}]
    if opts.confidence:
        outputs.append({"name": CONFIDENCE, "shape": out_shape, "dtype": "uint8", "semantics": "confidence"})
    return {
        "arch": ident.arch, "model_options": dict(ident.model_options), "num_classes": n,
        "classes": list(contract.classes), "palette": [list(c) for c in contract.palette],
        "ignore_index": contract.ignore_index,
        "input": {"name": INPUT, "shape": [batch, *hw, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                  "multiple_of": body.multiple if opts.dynamic else 1},
        "outputs": outputs,
        "normalization": {"mean": list(contract.unit_mean), "std": list(contract.unit_std), "in_graph": True},
        "model_source": dict(ident.model_source), "contract": dict(ident.contract),
        "train_input_size": [h, w], "checkpoint": ident.source_file.name,
        "checkpoint_sha256": file_sha256(ident.source_file), "checkpoint_metrics": ident.metrics,
        "opset": opts.opset, "dynamic": opts.dynamic, "subpixel": bool(opts.subpixel),
        "versions": sysinfo.versions(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
