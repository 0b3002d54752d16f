"""``unet-edge run``'s plan: every option turned into checked inputs and outputs before the model
loads, a port opens or a file is written. Whatever cannot work is one ConfigError line here; the
plan reads (the model's contract, whether paths exist) and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.artifact import ArtifactMeta
from unet_edge.core.errors import ConfigError
from unet_edge.core.options import check_config
from unet_edge.core.plan import check_disjoint, local_paths
from unet_edge.core.shipped import resolve_model
from unet_edge.runtime.recording import SaveSpec, parse_save
from unet_edge.runtime.run_config import RunConfig


@dataclass(frozen=True)
class RunPlan:
    """What ``run`` reads and writes, checked."""

    uris: list[str]
    model: Path
    runner: object  # runtime.runners.Runner, built but not active: its contract read and its options checked
    saves: list[SaveSpec | None]  # each stream's recording
    networks: list  # network_out.NetworkSpec: rtsp:// and rtp:// outputs
    address: tuple[str, int] | None  # the MJPEG live view's


def per_stream(save: str | Path | None, n: int) -> list[str | None]:
    """``out_{stream}.mp4`` -> out_0.mp4, out_1.mp4, ...; one source needs no placeholder."""
    if save is None or n == 1:
        return [None if save is None else str(save)] * n
    if "{stream}" not in str(save):
        raise ConfigError(f"--save {save}: with {n} sources the name needs {{stream}}, e.g. out_{{stream}}.mp4 "
                          "or rec_{stream}/")
    return [str(save).replace("{stream}", str(i)) for i in range(n)]


def split_saves(save: str | Path | list | None) -> tuple[str | Path | None, list]:
    """The one recording (file or segment folder) and the network outputs among the ``--save`` values."""
    from unet_edge.runtime.network_out import parse_network

    given = [] if save is None else [save] if isinstance(save, (str, Path)) else list(save)
    parsed = [(g, parse_network(str(g))) for g in given]
    networks = [spec for _, spec in parsed if spec is not None]
    files = [g for g, spec in parsed if spec is None]
    if len(files) > 1:
        raise ConfigError(f"--save {files[0]} --save {files[1]}: one recording per run (a file or a segment folder); "
                          "repeat --save for rtsp:// and rtp:// outputs")
    taken = [(n.host, n.port) for n in networks]
    if len(set(taken)) < len(taken):
        raise ConfigError("--save: two network outputs on the same HOST:PORT; give each its own port")
    return (files[0] if files else None), networks


def _check_model(cfg: RunConfig, meta: ArtifactMeta) -> None:
    """The options that need something of the model: its confidence output."""
    has_conf = any(o.semantics == "confidence" for o in meta.outputs)
    if cfg.view == "confidence" and not has_conf:
        raise ConfigError(f"--view confidence: {meta.path.name} has no confidence output; export it with "
                          "--confidence, or choose --view overlay | mask | side")
    if cfg.min_confidence > 0 and not has_conf:
        raise ConfigError(f"--min-confidence {cfg.min_confidence:g}: {meta.path.name} has no confidence output; "
                          "export it with --confidence, or leave --min-confidence out")


def _check_paths(cfg: RunConfig, uris: list[str], model: Path, recording: str | Path | None,
                 networks: list) -> None:
    from unet_edge.runtime.network_spec import sdp_paths
    from unet_edge.runtime.rosbag import partial_of

    saves = [] if recording is None else [Path(s) for s in per_stream(recording, len(uris))]
    saves += [p for spec in networks for p in sdp_paths(spec, len(uris))]  # rtp:// writes its .sdp here
    bag = [] if cfg.save_bag is None else [Path(cfg.save_bag), partial_of(Path(cfg.save_bag))]
    check_disjoint({"--source": local_paths(uris), "--model": model},
                   {"--save": saves, "--save-masks": cfg.save_masks, "--save-bag": bag,
                    "--stats-json": cfg.stats_json, "--trace": cfg.trace})


def plan_run(cfg: RunConfig, log: Callable[[str], None] | None = None) -> RunPlan:
    """Check every option of ``cfg`` and return the plan; writes nothing."""
    from unet_edge.runtime.mjpeg import check_serve
    from unet_edge.runtime.runners import open_runner

    check_config(cfg)  # bounds and choices, for callers that did not come through the command line
    uris = [cfg.source] if isinstance(cfg.source, (str, Path)) else list(cfg.source)
    if not uris:
        raise ConfigError("give at least one --source")
    uris = [str(u) for u in uris]
    keep_segments = cfg.keep if cfg.segment is not None or cfg.save_masks is None else None
    recording, networks = split_saves(cfg.save)
    saves = [parse_save(p, cfg.segment, keep_segments) for p in per_stream(recording, len(uris))]
    address = check_serve(cfg.serve) if cfg.serve else None  # resolves, and the port is free
    if networks:
        from unet_edge.runtime.network_out import check_networks

        check_networks(networks, len(uris))  # every stream's port, host and listener; GStreamer present
    model = resolve_model(cfg.model, log)
    runner = open_runner(model, cfg.provider, cfg.threads, cfg.size, device=cfg.device, precision=cfg.precision)
    _check_model(cfg, runner.meta)
    _check_paths(cfg, uris, model, recording, networks)
    if cfg.save_bag is not None:
        from unet_edge.runtime.rosbag import check_new_bag

        check_new_bag(Path(cfg.save_bag))
    return RunPlan(uris, model, runner, saves, networks, address)
