"""The artifact sidecar: everything the runtime knows about a model comes from this JSON file.

Export writes ``<artifact>.json`` beside every ``.onnx`` and ``.engine`` (and the same dict into
the ONNX ``metadata_props``); the runtime reads only the sidecar, so no constant is repeated
between training and runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unet_edge.errors import ExportError
from unet_edge.io import file_sha256

__all__ = ["ArtifactMeta", "file_sha256", "load_meta", "sidecar_path", "write_meta"]

FORMAT = "unet-edge/artifact"
VERSION = 1
ONNX_KEY = "unet_edge"  # metadata_props key holding the same JSON


def sidecar_path(artifact: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


@dataclass(frozen=True)
class ArtifactMeta:
    """Parsed sidecar of one artifact."""

    path: Path
    data: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.data["classes"])

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        return [tuple(c) for c in self.data["palette"]]

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) of a fixed-size model; None when height and width are dynamic."""
        shape = self.data["input"]["shape"]
        return (shape[1], shape[2]) if isinstance(shape[1], int) and isinstance(shape[2], int) else None

    @property
    def outputs_logits(self) -> bool:
        return self.data["output"]["semantics"] == "logits"

    @property
    def precision(self) -> str:
        return self.data["precision"]


def load_meta(artifact: str | Path, check_hash: bool = True) -> ArtifactMeta:
    """Read and check the sidecar of ``artifact``; a missing or mismatched one is an ExportError."""
    artifact = Path(artifact)
    if not artifact.is_file():
        raise ExportError(f"{artifact}: model file not found")
    side = sidecar_path(artifact)
    if not side.is_file():
        raise ExportError(f"{side}: metadata sidecar missing; re-export with 'unet-edge export' "
                          "(the runtime needs it for classes, palette and input layout)")
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{side}: sidecar is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f"{side}: not a unet-edge sidecar (no '{FORMAT}' marker)")
    if data.get("version", 0) > VERSION:
        raise ExportError(f"{side}: sidecar v{data['version']} is newer than this runtime (v{VERSION}); upgrade")
    missing = [k for k in ("classes", "palette", "input", "output", "precision") if k not in data]
    if missing:
        raise ExportError(f"{side}: sidecar lacks {', '.join(missing)}")
    if check_hash and data.get("artifact_sha256") and data["artifact_sha256"] != file_sha256(artifact):
        raise ExportError(f"{side}: sidecar does not match {artifact.name} (sha256 differs); the model was "
                          "replaced after export; re-export or copy the matching .json")
    return ArtifactMeta(artifact, data)


def write_meta(artifact: str | Path, data: dict[str, Any]) -> Path:
    """Write the sidecar of ``artifact`` (adds the artifact's sha256) atomically."""
    from unet_edge.io import write_json_atomic

    side = sidecar_path(artifact)
    write_json_atomic(side, {**data, "format": FORMAT, "version": VERSION,
                             "artifact_sha256": file_sha256(artifact)})
    return side
