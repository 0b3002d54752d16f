"""One way to open any MODEL as a runner, for the commands that take one (``eval``, ``bench``, ``serve``);
``export`` turns any of them into artifacts (:mod:`.exporter`).

The forms: a checkpoint of ``unet-edge train``; a PyTorch model unet-edge did not train (a state dict
with ``--model-class``, a torch.export program, a TorchScript file, a trusted pickle), which runs as
the eager reference; an artifact of ``unet-edge export`` (.onnx with its sidecar, an engine), which the
runtime's ``open_runner`` opens; a float ONNX graph from another exporter, whose deploy graph is
exported once into a cache keyed by the graph's content (:class:`.artifact_cache.ArtifactCache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.models.foreign import ForeignSpec
from unet_edge.runtime.runners import ENGINE_SUFFIXES, Runner


def kind(path: Path, spec: ForeignSpec | None = None) -> str:
    """``torch`` (any PyTorch form), ``foreign-onnx``, ``onnx`` (an artifact) or ``engine``."""
    from unet_edge.export.graph_reference import is_foreign_onnx

    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        return "engine"
    if suffix == ".onnx":
        return "foreign-onnx" if is_foreign_onnx(path) else "onnx"
    return "torch"


def open_reference(path: str | Path, spec: ForeignSpec | None = None, input_size: Sequence[int] | None = None,
                   layout: str = "channels_last") -> Runner:
    """A PyTorch MODEL in eager PyTorch: a ``unet-edge train`` checkpoint (``TorchRunner``), or a
    foreign model per ``spec`` (``ForeignRunner``: its wrapped body, fed as a checkpoint's)."""
    from unet_edge.export.foreign_torch import ForeignRunner, check_checkpoint_spec
    from unet_edge.models.foreign import is_foreign, open_foreign
    from unet_edge.torch_runner import TorchRunner

    path = Path(path)
    if not is_foreign(path, spec):
        check_checkpoint_spec(path, spec)
        return TorchRunner(path, input_size=input_size, layout=layout)
    ckpt = open_foreign(path, spec or ForeignSpec(), tuple(input_size) if input_size else None)
    return ForeignRunner(ckpt, path, input_size=input_size, layout=layout)


def open_model(path: str | Path, provider: str = "cpu", input_size: Sequence[int] | None = None,
               device: str | None = None, precision: str | None = None, spec: ForeignSpec | None = None,
               log: Callable[[str], None] = lambda _m: None) -> Runner:
    """A runner for any MODEL (``device`` and ``precision``: OpenVINO's, for ``provider="openvino"``)."""
    from unet_edge.core.shipped import resolve_model
    from unet_edge.core.tensorflow_files import refuse_tensorflow
    from unet_edge.runtime.runners import open_runner

    path = resolve_model(path, log)
    refuse_tensorflow(path)
    if not path.is_file():
        raise ConfigError(f"{path}: model file not found")
    what = kind(path, spec)
    if what == "torch":
        if provider == "openvino":
            raise ConfigError(f"{path.name} is a PyTorch model: OpenVINO runs its export ('unet-edge export "
                              f"{path}', then --model best.onnx)")
        return open_reference(path, spec, input_size)
    if what == "foreign-onnx":
        from unet_edge.export.artifact_cache import ArtifactCache

        size = tuple(input_size) if input_size else None
        path = ArtifactCache(path, size, None, None, log, spec=spec).onnx("fp32")
    elif spec is not None:
        raise ConfigError(f"{path.name} is an export of unet-edge: its sidecar records its classes and input "
                          "contract, so the model options do not apply")
    return open_runner(path, provider=provider, input_size=input_size, device=device, precision=precision)
