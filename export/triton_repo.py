"""Triton model repositories: ``REPO/<name>/config.pbtxt`` and ``REPO/<name>/1/model.onnx|model.plan``.

One model per exported precision (``<stem>_fp32``, ``_fp16``, ``_int8``). The config follows the
sidecar: uint8 NHWC input, every output by name, ``max_batch_size`` > 0 with dynamic batching only
for dynamic-batch exports (0 otherwise, the full shape then in ``dims``), one instance group.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from unet_edge.core.artifact import ArtifactMeta, load_meta
from unet_edge.core.errors import ConfigError
from unet_edge.core.io import atomic_path, write_bytes_atomic

DTYPES = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64"}
BACKENDS = {"onnxruntime": ("model.onnx", 'backend: "onnxruntime"'),
            "tensorrt": ("model.plan", 'platform: "tensorrt_plan"')}


def _dims(shape: Sequence[int | str], batched: bool) -> str:
    dims = [d if isinstance(d, int) else -1 for d in (shape[1:] if batched else shape)]
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def triton_config(meta: ArtifactMeta, name: str, backend: str = "onnxruntime", max_batch: int = 8,
                  instances: int = 1, kind: str = "KIND_CPU") -> str:
    """The ``config.pbtxt`` text of one model (protobuf text format of Triton's ModelConfig)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown Triton backend '{backend}'; choose {', '.join(BACKENDS)}")
    batched = meta.batch_dynamic
    filename, engine = BACKENDS[backend]
    lines = [f'name: "{name}"', engine, f'default_model_filename: "{filename}"',
             f"max_batch_size: {max_batch if batched else 0}", "input ["]
    lines.append(f'  {{ name: "{meta.input.name}" data_type: {DTYPES[meta.input.dtype]} '
                 f"dims: {_dims(meta.input.shape, batched)} }}")
    lines.append("]")
    lines.append("output [")
    lines += [f'  {{ name: "{o.name}" data_type: {DTYPES[o.dtype]} dims: {_dims(o.shape, batched)} }},'
              for o in meta.outputs]
    lines[-1] = lines[-1].rstrip(",")
    lines.append("]")
    lines.append(f"instance_group [ {{ count: {instances} kind: {kind} }} ]")
    if batched:
        lines.append("dynamic_batching { max_queue_delay_microseconds: 2000 }")
    return "\n".join(lines) + "\n"


def model_name(artifact: Path, meta: ArtifactMeta) -> str:
    stem = artifact.name.split(".")[0]
    return f"{stem}_{meta.precision}" + (f"_{meta.int8_target}" if meta.int8_target not in (None, "tensorrt") else "")


def add_model(repo: Path, artifact: Path, backend: str = "onnxruntime", max_batch: int = 8,
              kind: str = "KIND_CPU") -> Path:
    """Copy ``artifact`` (with its sidecar) into ``repo`` as a Triton model; returns its folder."""
    meta = load_meta(artifact)
    name = model_name(artifact, meta)
    folder = Path(repo) / name
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    filename = BACKENDS[backend][0]
    with atomic_path(version / filename) as tmp:
        shutil.copyfile(artifact, tmp)
    shutil.copyfile(artifact.with_name(artifact.name + ".json"), version / (filename + ".json"))
    write_bytes_atomic(folder / "config.pbtxt", triton_config(meta, name, backend, max_batch, kind=kind).encode())
    return folder
