"""``unet-edge train``'s run folder, checked before any data is read: a run in a folder that holds an
earlier one continues it (``--resume``) or replaces it (``--overwrite``), never overwrites it unasked,
and never writes where its inputs are."""

from __future__ import annotations

from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.core.plan import check_disjoint
from unet_edge.training.config import RUN_FILES, TrainConfig


def check_run_folder(cfg: TrainConfig) -> None:
    """Refuse, in one line, a ``--out`` that would overwrite an earlier run (or a crashed one's
    checkpoints) without ``--overwrite``, a ``--resume`` with nothing to resume, and outputs that are
    inputs (``--data``, ``--pretrained-weights``)."""
    out = Path(cfg.out)
    if cfg.resume and cfg.overwrite:
        raise ConfigError("--resume and --overwrite: pass one (continue the run in --out, or replace it)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder for the run")
    files = [out / name for name in RUN_FILES]
    check_disjoint({"--data": cfg.data, "--pretrained-weights": cfg.pretrained_weights}, {"--out": files})
    if cfg.resume:
        if not (out / "last.pt").is_file():
            raise ConfigError(f"--resume: {out / 'last.pt'} not found; start the run without --resume")
        return
    earlier = [f.name for f in files if f.suffix == ".pt" and f.exists()]
    if earlier and not cfg.overwrite:
        raise ConfigError(f"--out {out}: holds an earlier run ({', '.join(earlier)}); continue it with --resume, "
                          "replace it with --overwrite, or choose another --out")
