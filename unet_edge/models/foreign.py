"""Load a segmentation model unet-edge did not train, in one of its PyTorch forms:

- code + weights: ``--model-class MODULE:NAME`` (a class or factory) with ``--model-kwargs JSON``, and a
  state dict file (.pt/.pth/.safetensors; plain, or under ``state_dict``/``model``/``model_state_dict``),
  read with ``weights_only=True``;
- a torch.export program (.pt2, ``torch.export.save``) or a TorchScript file (.ts, or any file
  ``torch.jit.load`` opens), which carry their own code;
- a pickled whole ``nn.Module`` (``torch.save(model)``): loading it runs arbitrary code, so it is
  refused unless the user passes ``--trust-pickle``.

The form is read from the file's content, not its name. Every failure is one line.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unet_edge.core.errors import CheckpointError, ConfigError, ModelError
from unet_edge.core.lazy import require
from unet_edge.models.contract import IOContract
from unet_edge.models.model_class import build_model, extend_path, first_line, load_weights

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")
FORMS = ("state_dict", "torch.export", "torchscript", "pickle")
DEFAULT_SIZE = (352, 480)  # the export size when neither --size nor the model fixes one


@dataclass
class ForeignSpec:
    """What the user said about a foreign model (recorded in the sidecar's ``model_source`` and
    ``contract`` entries, which ``--like ARTIFACT`` reads back)."""

    model_class: str | None = None
    model_kwargs: dict = field(default_factory=dict)
    python_path: tuple[str, ...] = ()
    trust_pickle: bool = False
    contract: IOContract = field(default_factory=IOContract)

    def to_json(self, source: Path, form: str) -> dict:
        return {"source": Path(source).name, "form": form, "class": self.model_class,
                "kwargs": self.model_kwargs, "python_path": list(self.python_path),
                "contract": self.contract.to_json()}


def parse_kwargs(text: str | None) -> dict:
    """``--model-kwargs``: a JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model-kwargs is not JSON ({exc.msg} at character {exc.pos}): {text[:80]}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--model-kwargs must be a JSON object like '{{\"num_classes\": 11}}', got {text[:80]}")
    return value


def file_form(path: Path) -> str:
    """Which of ``FORMS`` (or ``unet-edge``, a checkpoint of ``unet-edge train``) ``path`` holds."""
    from unet_edge.core.tensorflow_files import refuse_tensorflow

    refuse_tensorflow(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if _is_safetensors(head):
        return "state_dict"
    if head[:2] != b"PK":
        raise _not_a_model(path, "neither a zip archive (torch.save, TorchScript, torch.export) nor safetensors")
    try:
        names = zipfile.ZipFile(path).namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _not_a_model(path, f"damaged zip archive: {exc}") from exc
    tails = {n.split("/", 1)[1] for n in names if "/" in n}
    if "archive_format" in tails or "archive_version" in tails:
        return "torch.export"
    if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        return "unet-edge" if _is_unet_edge(path) else "state_dict"  # or a pickle: load_foreign tells
    raise _not_a_model(path, "a zip archive without a torch payload")


def is_foreign(path: str | Path, spec: ForeignSpec | None = None) -> bool:
    """Whether ``path`` needs the foreign-model route (anything but a ``unet-edge train`` checkpoint)."""
    if spec is not None and spec.model_class:
        return True
    return file_form(Path(path)) != "unet-edge"


def load_foreign(path: str | Path, spec: ForeignSpec) -> tuple[Any, str]:
    """The model in ``path`` (eval mode, on the CPU) and its form."""
    path = Path(path)
    form = file_form(path)
    if form == "unet-edge":
        raise ConfigError(f"{path}: a 'unet-edge train' checkpoint records its model: drop --model-class")
    if form in ("torch.export", "torchscript") and spec.model_class:
        raise ConfigError(f"{path}: a {form} file carries its own code: drop --model-class")
    torch = require("torch")
    extend_path(spec.python_path)
    if form == "torch.export":
        try:
            model = torch.export.load(str(path)).module()
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot load the torch.export program: {first_line(exc)}") from exc
        return model, form
    if form == "torchscript":
        try:
            return torch.jit.load(str(path), map_location="cpu").eval(), form
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot load the TorchScript file: {first_line(exc)}") from exc
    payload = _read_weights(path, torch)
    if payload is _PICKLED:
        if not spec.trust_pickle:
            raise CheckpointError(
                f"{path}: a pickled whole model (torch.save(model)) runs arbitrary code when loaded; save its "
                "weights instead (torch.save(model.state_dict(), 'weights.pt')) and pass --model-class MODULE:NAME, "
                "or pass --trust-pickle if you trust this file")
        return _unpickle(path, torch), "pickle"
    state = state_dict_of(payload, path)
    if not spec.model_class:
        raise ConfigError(f"{path}: a state dict holds weights only: pass --model-class MODULE:NAME "
                          "(and --model-kwargs JSON) to build the model they belong to")
    model = build_model(spec.model_class, spec.model_kwargs, spec.python_path)
    load_weights(model, state, path, spec.model_class)
    return model.eval(), form


def read_state_dict(path: str | Path) -> dict:
    """The state dict in a weights file (``--pretrained-weights``): .pt/.pth/.safetensors, plain or
    under ``STATE_DICT_KEYS`` (a checkpoint of ``unet-edge train`` too), read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    payload = _read_weights(path, require("torch"))
    if payload is _PICKLED:
        raise CheckpointError(f"{path}: a pickled whole model, not weights; save them with "
                              "torch.save(model.state_dict(), 'weights.pt')")
    return state_dict_of(payload, path)


def open_foreign(path: str | Path, spec: ForeignSpec, size: tuple[int, int] | None = None):
    """A foreign model as a :class:`~unet_edge.models.checkpoint.Checkpoint` (classes, normalisation,
    input size), its wrapped body as ``module`` and what was given as ``model_source`` and ``contract``."""
    from dataclasses import replace

    from unet_edge.data.classes import ClassInfo
    from unet_edge.models.checkpoint import Checkpoint
    from unet_edge.models.foreign_module import wrap
    from unet_edge.models.preprocessing import settle

    path = Path(path)
    raw, form = load_foreign(path, spec)
    fixed = fixed_size(raw, spec.contract)
    built_by = (spec.model_class, dict(spec.model_kwargs)) if spec.model_class else None
    stated = settle(spec.contract, raw, path, path.name, built_by=built_by)
    marks = {"size": "model" if fixed else "default", "layout": "default (PyTorch: NCHW)", "output": "model",
             "classes": "model (generic names)"}
    spec = replace(spec, contract=replace(stated, origin={**marks, **stated.origin}))
    size = tuple(size or spec.contract.size or fixed or DEFAULT_SIZE)
    if form == "torchscript":
        raw = script_to_graph(raw, spec.contract, size, path)
    body, contract = wrap(raw, replace(spec.contract, size=size), size)
    spec = replace(spec, contract=contract)
    name = spec.model_class or f"{form}:{path.name}"
    given = spec.to_json(path, form)
    source = {"kind": form, **{k: v for k, v in given.items() if k not in ("form", "contract")}}
    info = ClassInfo(list(contract.classes), [list(c) for c in contract.palette], contract.ignore_index)
    return Checkpoint(f"foreign:{name}", dict(spec.model_kwargs), info, tuple(contract.unit_mean),
                      tuple(contract.unit_std), tuple(size), model_source=source, contract=given["contract"],
                      module=body)


def script_to_graph(script, contract: IOContract, size: tuple[int, int], path: Path):
    """A TorchScript module as a torch.export graph module: the ONNX exporter traces, and a ScriptModule
    called inside a trace is refused ("not part of the active trace"), where a graph module is plain Python."""
    torch = require("torch")
    from torch._export.converter import TS2EPConverter  # the converter torch.export ships for TorchScript

    h, w = contract.padded(*size)
    sample = torch.zeros(1, 3, h, w) if contract.layout == "nchw" else torch.zeros(1, h, w, 3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one line per unused BatchNorm counter
            return TS2EPConverter(script, (sample,)).convert().module()
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot convert the TorchScript model for export ({type(exc).__name__}: "
                              f"{first_line(exc)}); save a torch.export program (.pt2) instead") from exc


def fixed_size(model, contract: IOContract) -> tuple[int, int] | None:
    """The input size a torch.export program was exported for (its shapes are fixed unless made dynamic)."""
    graph = getattr(model, "graph", None)  # a ScriptModule's .graph is a TorchScript graph, not an FX one
    nodes = getattr(graph, "nodes", ())
    for node in nodes if not callable(nodes) else ():
        val = node.meta.get("val") if node.op == "placeholder" else None
        shape = getattr(val, "shape", None)
        if shape is not None and len(shape) == 4 and all(isinstance(d, int) for d in shape):
            return (shape[2], shape[3]) if contract.layout == "nchw" else (shape[1], shape[2])
    return None


def state_dict_of(payload: Any, path: Path) -> dict:
    """The state dict in a loaded file: the dict itself, or one under ``STATE_DICT_KEYS``."""
    torch = require("torch")

    def is_state(d: Any) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())

    if is_state(payload):
        return payload
    if isinstance(payload, dict):
        for key in STATE_DICT_KEYS:
            if is_state(payload.get(key)):
                return payload[key]
        keys = ", ".join(str(k) for k in list(payload)[:6])
        raise _not_a_model(path, f"a dict without a state dict (keys: {keys}; looked under "
                                 f"{', '.join(STATE_DICT_KEYS)})")
    raise _not_a_model(path, f"torch.save of a {type(payload).__name__}, not a state dict")


_PICKLED = object()  # a torch.save file that holds more than tensors and containers


def _read_weights(path: Path, torch) -> Any:
    if _is_safetensors(path.open("rb").read(16)):
        safetensors = require("safetensors.torch")
        try:
            return safetensors.load_file(str(path), device="cpu")
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot read the safetensors file: {first_line(exc)}") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights only load failed" in str(exc).lower() or type(exc).__name__ == "UnpicklingError":
            return _PICKLED
        raise CheckpointError(f"{path}: cannot read (corrupt or truncated): {first_line(exc)}") from exc


def _unpickle(path: Path, torch):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a class that moved or is not importable
        raise ModelError(f"{path}: cannot unpickle the model ({type(exc).__name__}: {first_line(exc)}); "
                         "put its code on the path with --python-path DIR") from exc
    if isinstance(obj, dict):
        obj = next((obj[k] for k in STATE_DICT_KEYS if isinstance(obj.get(k), torch.nn.Module)), obj)
    if not isinstance(obj, torch.nn.Module):
        raise _not_a_model(path, f"a pickled {type(obj).__name__}, not a torch.nn.Module")
    return obj.float().eval()


def _is_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header length, then the JSON header
    return len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _is_unet_edge(path: Path) -> bool:
    from unet_edge.models.checkpoint import FORMAT

    torch = require("torch")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return False
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def _not_a_model(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: not a model file ({why}); expected a 'unet-edge train' checkpoint, a state dict "
                           "(.pt/.pth/.safetensors with --model-class), a torch.export .pt2, a TorchScript file or "
                           "an ONNX graph")
