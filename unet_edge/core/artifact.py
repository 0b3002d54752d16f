"""The artifact contract: everything the runtime knows about a model comes from its metadata.

Export writes ``<artifact>.json`` beside every ``.onnx`` and ``.engine``, and the same dict into
the ONNX ``metadata_props``, so that a lone ``.onnx`` still runs: ``load_meta`` reads the sidecar,
or the ONNX file's own copy when no sidecar is beside it, once into a typed, validated
``ArtifactMeta``. No reader looks into the raw dict or invents a default for a missing field:
a missing one is an ArtifactError naming the file.

The format is versioned MAJOR (``version``) and MINOR (``version_minor``). A reader accepts any
minor version of its major one and keeps fields it does not know (``to_dict`` hands them on,
e.g. into an engine's sidecar); only a newer major version is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unet_edge.core.errors import ArtifactError
from unet_edge.core.io import file_sha256, write_json_atomic
from unet_edge.core.onnx_props import metadata_props

__all__ = ["ArtifactMeta", "EngineInfo", "TensorSpec", "embedded_meta", "load_meta", "sidecar_path", "write_meta"]

FORMAT = "unet-edge/artifact"
MAJOR, MINOR = 1, 1  # 1.1: typed contract, a list of outputs
ONNX_KEY = "unet_edge"  # metadata_props key holding the same JSON (without artifact_sha256)
PRECISIONS = ("fp32", "fp16", "int8")
INT8_TARGETS = ("tensorrt", "cpu", "openvino")
REQUIRED = ("classes", "palette", "ignore_index", "input", "outputs", "precision", "train_input_size")
INPUT_REQUIRED = ("name", "shape", "dtype", "layout", "color", "multiple_of")
OUTPUT_REQUIRED = ("name", "shape", "dtype", "semantics")
ENGINE_REQUIRED = ("tensorrt", "gpu", "compute_capability", "source_onnx", "rebuild", "l4t", "dla_core")


def sidecar_path(artifact: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, shape (ints, or names for dynamic axes), dtype, meaning."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    semantics: str = ""  # outputs only: class_ids | logits | confidence
    layout: str = ""  # the input only: NHWC
    color: str = ""  # the input only: BGR
    multiple_of: int = 1  # the input only: height and width must be multiples of this


@dataclass(frozen=True)
class EngineInfo:
    """Where and how a TensorRT engine was built (engines are tied to all of it)."""

    tensorrt: str
    gpu: str
    compute_capability: str
    source_onnx: str
    rebuild: str
    l4t: str | None  # None off Jetson
    dla_core: int | None  # None on the GPU


@dataclass(frozen=True)
class ArtifactMeta:
    """Typed, validated sidecar of one artifact. Build it with ``load_meta`` or ``from_dict``."""

    path: Path
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    train_input_size: tuple[int, int]
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int
    precision: str
    int8_target: str | None
    engine: EngineInfo | None
    versions: Mapping[str, str]
    version: tuple[int, int]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) of a fixed-size model; None when height and width are dynamic."""
        h, w = self.input.shape[1:3]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    @property
    def output(self) -> TensorSpec:
        """The first output: the class map (or the logits of a ``--logits`` export)."""
        return self.outputs[0]

    @property
    def outputs_logits(self) -> bool:
        return self.output.semantics == "logits"

    @property
    def batch_dynamic(self) -> bool:
        return not isinstance(self.input.shape[0], int)

    def to_dict(self) -> dict[str, Any]:
        """The sidecar as a dict, unknown fields included, for writing a derived artifact's sidecar."""
        return json.loads(json.dumps(dict(self.raw)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path, where: str | None = None) -> ArtifactMeta:
        """Validate ``data`` (a sidecar's content); every problem is a one-line ArtifactError."""
        where = where or str(sidecar_path(path))
        if not isinstance(data, Mapping):
            raise ArtifactError(f"{where}: not a unet-edge sidecar (not a JSON object)")
        version = _version(data, where)
        _require(data, REQUIRED, where, "")
        try:
            _require(data["input"], INPUT_REQUIRED, where, "input.")
            for i, o in enumerate(data["outputs"]):
                _require(o, OUTPUT_REQUIRED, where, f"outputs[{i}].")
            if data.get("engine") is not None:
                _require(data["engine"], ENGINE_REQUIRED, where, "engine.")
            inp = _tensor(data["input"])
            outputs = tuple(_tensor(o) for o in data["outputs"])
            classes = tuple(str(c) for c in data["classes"])
            palette = tuple(tuple(int(v) for v in c) for c in data["palette"])
            size = tuple(int(v) for v in data["train_input_size"])
            engine = _engine(data.get("engine"))
            int8 = data.get("int8") or {}
            target = int8.get("target") if isinstance(int8, Mapping) else None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ArtifactError(f"{where}: malformed sidecar field ({type(exc).__name__}: {exc})") from exc
        checks = [
            (len(inp.shape) == 4 and inp.shape[3] == 3, f"input shape {list(inp.shape)} is not NxHxWx3"),
            (bool(outputs), "no outputs"),
            (bool(classes) and len(palette) >= len(classes) and all(len(c) == 3 for c in palette),
             "palette does not give an RGB colour to every class"),
            (len(size) == 2 and min(size) > 0, f"train_input_size {list(size)} is not [H, W]"),
            (data["precision"] in PRECISIONS, f"precision '{data['precision']}' is not one of {PRECISIONS}"),
            (target in (None, *INT8_TARGETS), f"int8 target '{target}' is not one of {INT8_TARGETS}"),
            (inp.multiple_of >= 1, "input multiple_of must be at least 1"),
        ]
        bad = [why for ok, why in checks if not ok]
        if bad:
            raise ArtifactError(f"{where}: invalid sidecar: {bad[0]}")
        return cls(path=Path(path), input=inp, outputs=outputs, train_input_size=(size[0], size[1]),
                   classes=classes, palette=palette, ignore_index=int(data["ignore_index"]),
                   precision=data["precision"], int8_target=target, engine=engine,
                   versions=dict(data.get("versions") or {}), version=version, raw=dict(data))


def _version(data: Mapping[str, Any], where: str) -> tuple[int, int]:
    if data.get("format") != FORMAT:
        raise ArtifactError(f"{where}: not a unet-edge sidecar (no '{FORMAT}' marker)")
    if "version" not in data or "version_minor" not in data:
        raise ArtifactError(f"{where}: sidecar without its format version ('version', 'version_minor')")
    major, minor = data["version"], data["version_minor"]
    if not isinstance(major, int) or not isinstance(minor, int):
        raise ArtifactError(f"{where}: sidecar version {major!r}.{minor!r} is not a number")
    if major > MAJOR:
        writer = (data.get("versions") or {}).get("unet-edge", "a newer release")
        raise ArtifactError(f"{where}: sidecar format v{major}.{minor} was written by unet-edge {writer}; this "
                            f"unet-edge reads v{MAJOR}.x: upgrade unet-edge or re-export with this one")
    return major, minor


def _require(d: Mapping[str, Any], keys: tuple[str, ...], where: str, prefix: str) -> None:
    """A missing field is named, never defaulted (``l4t`` and ``dla_core`` may be null, not absent)."""
    if not isinstance(d, Mapping):
        raise ArtifactError(f"{where}: malformed sidecar field {prefix.rstrip('.') or 'root'} (not an object)")
    missing = [prefix + k for k in keys if k not in d]
    if missing:
        raise ArtifactError(f"{where}: sidecar lacks {', '.join(missing)}; re-export with 'unet-edge export'")


def _tensor(d: Mapping[str, Any]) -> TensorSpec:
    """One input or output; the fields that only the other kind has stay empty."""
    shape = tuple(v if isinstance(v, int) else str(v) for v in d["shape"])
    return TensorSpec(name=str(d["name"]), shape=shape, dtype=str(d["dtype"]), semantics=str(d.get("semantics", "")),
                      layout=str(d.get("layout", "")), color=str(d.get("color", "")),
                      multiple_of=int(d.get("multiple_of", 1)))


def _engine(d: Mapping[str, Any] | None) -> EngineInfo | None:
    if d is None:
        return None
    return EngineInfo(tensorrt=str(d["tensorrt"]), gpu=str(d["gpu"]), compute_capability=str(d["compute_capability"]),
                      source_onnx=str(d["source_onnx"]), rebuild=str(d["rebuild"]), l4t=d["l4t"],
                      dla_core=d["dla_core"])


def load_meta(artifact: str | Path, check_hash: bool = True) -> ArtifactMeta:
    """Read and check the sidecar of ``artifact``, or the metadata inside a ``.onnx`` that has none
    beside it; a missing, invalid or mismatched contract is an ArtifactError naming the file."""
    artifact = Path(artifact)
    if not artifact.is_file():
        raise ArtifactError(f"{artifact}: model file not found")
    side = sidecar_path(artifact)
    if not side.is_file():
        return embedded_meta(artifact)
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{side}: sidecar is not valid JSON ({exc})") from exc
    meta = ArtifactMeta.from_dict(data, artifact, str(side))
    if check_hash and data.get("artifact_sha256") and data["artifact_sha256"] != file_sha256(artifact):
        raise ArtifactError(f"{side}: sidecar does not match {artifact.name} (sha256 differs); the model was "
                            "replaced after export; re-export or copy the matching .json")
    return meta


def embedded_meta(onnx_path: str | Path) -> ArtifactMeta:
    """The contract that export copied into an ONNX file's ``metadata_props`` (read without onnx).
    It is the file's own, so there is no hash to check; an engine has no such copy."""
    onnx_path = Path(onnx_path)
    side = sidecar_path(onnx_path)
    if onnx_path.suffix.lower() != ".onnx":
        raise ArtifactError(f"{side}: metadata sidecar missing; an engine carries no metadata of its own: "
                            "copy its .json beside it or rebuild it with 'unet-edge build'")
    try:
        props = metadata_props(onnx_path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{onnx_path}: no sidecar beside it and not a readable ONNX file ({exc})") from exc
    if ONNX_KEY not in props:
        raise ArtifactError(f"{side}: metadata sidecar missing and {onnx_path.name} carries no unet-edge metadata; "
                            "re-export with 'unet-edge export' (the runtime needs classes, palette and input layout)")
    where = f"{onnx_path} (metadata_props)"
    try:
        data = json.loads(props[ONNX_KEY])
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{where}: metadata is not valid JSON ({exc})") from exc
    return ArtifactMeta.from_dict(data, onnx_path, where)


def stamp(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` marked as this format version."""
    return {**data, "format": FORMAT, "version": MAJOR, "version_minor": MINOR}


def write_meta(artifact: str | Path, data: Mapping[str, Any]) -> Path:
    """Validate ``data``, stamp it and the artifact's sha256, and write the sidecar atomically."""
    data = {**stamp(data), "artifact_sha256": file_sha256(artifact)}
    ArtifactMeta.from_dict(data, artifact)  # never write a sidecar the runtime would refuse
    side = sidecar_path(artifact)
    write_json_atomic(side, data)
    return side


def profile_shapes(input_shape, train_size, max_batch: int = 4) -> tuple[tuple[int, ...], ...] | None:
    """(min, opt, max) NHWC shapes of a dynamic input, or None for a fixed one: the one TensorRT shape
    profile (``build``, and ONNX Runtime's TensorRT provider) around the training size, batches
    1..max_batch (a fixed batch stays fixed), frames up to 1080p."""
    if all(isinstance(d, int) and d > 0 for d in input_shape):
        return None
    h, w = train_size
    n = input_shape[0] if isinstance(input_shape[0], int) and input_shape[0] > 0 else None
    return (n or 1, 64, 64, 3), (n or 1, h, w, 3), (n or max_batch, max(h, 1088), max(w, 1920), 3)
