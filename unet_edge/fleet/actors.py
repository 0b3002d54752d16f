"""The infer stage of ``label``: a pool of Ray actors, each holding one model open through the runner
contract (``open_runner``, the providers of ``run``), inferring the frames it is handed.

How many threads and devices an actor takes is decided once, by :func:`actor_spec`, from the cluster's
resources: on CPUs the cluster's cores divided by --workers (each actor books that many CPUs, so that
actors never fight over cores); with --provider cuda or tensorrt, or a TensorRT engine, one GPU each.

The model reaches the actors through Ray's object store (:func:`pack_model`: the artifact and its
sidecar as bytes). An actor uses the driver's own file where its node sees the same bytes at that path
(one box, or a shared folder), else writes them once into its node's user cache, named by their sha256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet_edge.core.errors import ConfigError
from unet_edge.core.io import file_sha256, user_cache, write_bytes_atomic
from unet_edge.fleet.decode import END, column
from unet_edge.runtime.frame import to_model_size
from unet_edge.runtime.runners import ENGINE_SUFFIXES

GPU_PROVIDERS = ("cuda", "tensorrt")
PASSED_ON = ("video", "index", "name", "source_ms", "last", "frames", "failure", "t_start")


@dataclass(frozen=True)
class ActorSpec:
    """The resources of each inference actor, and the runner options they imply."""

    workers: int
    threads: int  # the runner's CPU threads (ONNX Runtime's intra-op, OpenVINO's)
    num_cpus: float  # booked from Ray per actor
    num_gpus: float
    provider: str

    def ray_options(self) -> dict:
        """``map_batches``' resource arguments for the actor pool."""
        return {"num_cpus": self.num_cpus, **({"num_gpus": self.num_gpus} if self.num_gpus else {})}


def on_gpus(provider: str, model: Path) -> bool:
    """Whether the actors run on GPUs: --provider cuda or tensorrt, or a TensorRT engine."""
    return provider in GPU_PROVIDERS or model.suffix.lower() in ENGINE_SUFFIXES


def actor_spec(provider: str, workers: int, cpus: float, gpus: float, model: Path,
               where: str = "this Ray cluster") -> ActorSpec:
    """Each actor's threads and booked resources on ``where``, of ``cpus`` CPUs and ``gpus`` GPUs; refused in
    one line where --workers actors cannot all start (they would wait for resources for ever)."""
    cores = int(cpus)
    threads = max(1, cores // workers)
    if on_gpus(provider, model):
        if gpus < workers:
            what = f"--provider {provider}" if provider in GPU_PROVIDERS else f"the engine {model.name}"
            raise ConfigError(f"--workers {workers}: {what} gives each worker a GPU, and {where} has {gpus:g}; "
                              f"give at most {int(gpus)} workers, or --provider cpu")
        # pre- and post-processing only on the CPU: decode and write tasks keep the other cores
        return ActorSpec(workers, threads, 1.0, 1.0, provider)
    if workers > cores:
        raise ConfigError(f"--workers {workers}: {where} has {cpus:g} CPUs and each worker takes at least one; "
                          f"give at most {cores}")
    return ActorSpec(workers, threads, float(threads), 0.0, provider)


@dataclass(frozen=True)
class ModelFiles:
    """A model artifact and its sidecar as bytes, for the object store."""

    path: str  # where the driver read it
    sha256: str  # the artifact's
    files: dict  # file name -> bytes: the artifact first, then its sidecar where it has one


def pack_model(path: Path, sha256: str) -> ModelFiles:
    """The artifact at ``path`` (and ``<path>.json`` beside it) as bytes; ``sha256``: the plan's of it."""
    files = {path.name: path.read_bytes()}
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        files[sidecar.name] = sidecar.read_bytes()
    return ModelFiles(str(path), sha256, files)


def model_on_node(model: ModelFiles) -> Path:
    """A path to the model on this node: the driver's where it holds the same bytes, else a cached copy."""
    name = next(iter(model.files))
    here = Path(model.path)
    if here.is_file() and file_sha256(here) == model.sha256:
        return here
    folder = user_cache() / "fleet" / model.sha256[:16]
    for fname, data in model.files.items():
        if not (folder / fname).is_file() or (folder / fname).stat().st_size != len(data):
            write_bytes_atomic(folder / fname, data)
    return folder / name


class Infer:
    """Ray Data's callable class: one runner, activated once per actor, over every batch it is handed."""

    def __init__(self, model: ModelFiles | object, provider: str, threads: int, size: tuple[int, int] | None,
                 device: str | None, precision: str | None, max_batch: int) -> None:
        """``model``: the ModelFiles, or the object store's reference to them."""
        import ray

        from unet_edge.runtime.runners import open_runner

        files = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.runner = open_runner(model_on_node(files), provider, threads, size, device=device, precision=precision)
        self.runner.activate()
        self.max_batch = max_batch if self.runner.meta.batch_dynamic else 1
        # a confidence column on every batch, or none: Ray Data joins the blocks of one schema
        self.conf_dtype = next((np.dtype(o.dtype) for o in self.runner.meta.outputs if o.semantics == "confidence"),
                               None)
        self.actor = f"{ray.get_runtime_context().get_node_id()[:12]}:{os.getpid()}"

    def _infer(self, images: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Class ids (and confidence) at the model's size, as ``run``'s pipeline infers them: frames of one
        input size together, up to ``max_batch`` at a time."""
        masks: list[np.ndarray | None] = [None] * len(images)
        conf: list[np.ndarray | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(self.runner.fit_to(image.shape[:2]), []).append(i)
        for size, members in by_size.items():
            for k in range(0, len(members), self.max_batch):
                chunk = members[k:k + self.max_batch]
                outs = self.runner.infer_outputs(np.stack([to_model_size(images[i], size) for i in chunk]))
                first, c = next(iter(outs.values())), outs.get("confidence")
                for j, i in enumerate(chunk):
                    masks[i], conf[i] = first[j], None if c is None else c[j]
        return masks, conf  # type: ignore[return-value]

    def __call__(self, batch: dict) -> dict:
        index = batch["index"]
        frames = [i for i in range(len(index)) if index[i] != END]
        images = [np.asarray(batch["image"][i]) for i in frames]
        masks, conf = self._infer(images)
        out_masks = [np.zeros((1, 1), np.uint8)] * len(index)  # an end row's
        out_conf = [np.zeros((1, 1), self.conf_dtype or np.uint8)] * len(index)
        hw = np.zeros((len(index), 2), np.int64)
        for k, i in enumerate(frames):
            out_masks[i], out_conf[i] = masks[k], conf[k] if conf[k] is not None else out_conf[i]
            hw[i] = images[k].shape[:2]
        out = {k: batch[k] for k in PASSED_ON}
        out.update(mask=column(out_masks), h=hw[:, 0], w=hw[:, 1], actor=np.array([self.actor] * len(index)))
        if self.conf_dtype is not None:
            out["conf"] = column(out_conf)
        return out

    def __del__(self) -> None:
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.deactivate()
