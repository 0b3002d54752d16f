"""``unet-edge label``'s plan: every option, source, the model and --out checked before Ray starts or a
file is written. Whatever cannot work is one line here; the plan reads and writes nothing else."""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unet_edge.core import sysinfo
from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ConfigError
from unet_edge.core.io import file_sha256
from unet_edge.core.lazy import require
from unet_edge.core.options import check_config
from unet_edge.core.plan import check_disjoint
from unet_edge.core.shipped import resolve_model
from unet_edge.fleet.actors import actor_spec, on_gpus
from unet_edge.fleet.config import LabelConfig
from unet_edge.fleet.engine import check_address
from unet_edge.fleet.resume import check_out, done_marker, stamp
from unet_edge.fleet.sources import Job, glob_root, list_jobs

FLEET_MODULES = ("ray", "av", "pyarrow.parquet", "ray.data")  # the fleet extra, imported before anything runs


@dataclass(frozen=True)
class LabelPlan:
    """What ``label`` reads and writes, checked."""

    jobs: list[Job]
    out: Path
    model: Path
    meta: ArtifactMeta
    settings: dict  # OUT/label.json
    done: dict[str, dict]  # job name -> its done.json: labelled by an earlier run

    @property
    def todo(self) -> list[Job]:
        return [j for j in self.jobs if j.name not in self.done]


def _inputs(sources: list[str], jobs: list[Job]) -> list[Path]:
    """Every path label reads: the sources as given (a glob as its fixed folder) and every job's path."""
    named = [glob_root(s) if _glob.has_magic(s) and not Path(s).exists() else Path(os.path.expanduser(s))
             for s in sources]
    return named + [Path(j.path) for j in jobs]


def _check_model(meta: ArtifactMeta) -> None:
    if meta.output.semantics != "class_ids":
        raise ConfigError(f"--model {meta.path.name}: its first output is {meta.output.semantics or 'unnamed'}, "
                          "not class ids; label needs an export with its class map (export without --logits)")


def plan_label(cfg: LabelConfig, log: Callable[[str], None] | None = None) -> LabelPlan:
    """Check every option of ``cfg`` and return the plan; writes nothing and starts nothing."""
    check_config(cfg)  # bounds and choices, for callers that skip the command line
    for module in FLEET_MODULES:
        require(module)  # the fleet extra, named in one line when missing
    check_address(cfg.ray_address)
    sources = [cfg.source] if isinstance(cfg.source, (str, Path)) else [str(s) for s in cfg.source]
    if not sources:
        raise ConfigError("give at least one --source")
    jobs = list_jobs(sources)
    model = resolve_model(cfg.model, log)
    from unet_edge.runtime.runners import open_runner

    # built, not activated: the contract read and the provider, size and OpenVINO options checked
    runner = open_runner(model, cfg.provider, None, cfg.size, device=cfg.device, precision=cfg.precision)
    _check_model(runner.meta)
    if cfg.ray_address is None and not require("ray").is_initialized():
        # the local Ray gets this box's cores and GPUs: its actors are checked before it starts
        gpus = len(sysinfo.gpus()) if on_gpus(cfg.provider, model) else 0
        actor_spec(cfg.provider, cfg.workers, sysinfo.usable_cores(), gpus, model, where="this box")
    out = Path(os.path.expanduser(str(cfg.out))).absolute()
    check_disjoint({"--source": _inputs(sources, jobs), "--model": model}, {"--out": out})
    settings = stamp(model, file_sha256(model), cfg.every, cfg.size, runner.classes)
    check_out(out, settings)
    done = {} if not out.exists() else {j.name: m for j in jobs if (m := done_marker(out, j)) is not None}
    return LabelPlan(jobs, out, model, runner.meta, settings, done)
