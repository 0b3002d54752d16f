"""``unet-edge label``: a fleet's recordings through Ray Data, into class maps in ``run --save-masks``' format.

    jobs (one a video) -> decode tasks (runtime sources, PyAV for reasons) -> a pool of inference actors
    (one model each, through the runner contract) -> write tasks (PNGs, index lines) -> the driver

The driver keeps only what is small: each unfinished video's index lines and class pixel counts. It
writes a video's ``index.jsonl`` and ``done.json`` when its last frame comes back, prints the progress,
and writes ``OUT/summary.parquet`` at the end. Memory is bounded by Ray Data's streaming executor, which
holds back the decode tasks while the actors are behind, not by how many videos there are.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from unet_edge.core.errors import UnetEdgeError
from unet_edge.core.lazy import require
from unet_edge.fleet.actors import ActorSpec, Infer, actor_spec, pack_model
from unet_edge.fleet.config import LabelConfig
from unet_edge.fleet.decode import declared_frames, decode_batch
from unet_edge.fleet.engine import connect, disconnect, resources
from unet_edge.fleet.plan import LabelPlan, plan_label
from unet_edge.fleet.progress import Progress
from unet_edge.fleet.resume import finish_video, start_out
from unet_edge.fleet.summary import SUMMARY, VideoTally, resumed_row, write_summary
from unet_edge.fleet.write import write_batch


def _dataset(plan: LabelPlan, cfg: LabelConfig, spec: ActorSpec, model_ref):
    """The three stages over the videos still to label, as one lazy Ray Dataset."""
    rd = require("ray.data")
    todo = plan.todo
    items = [{"video": j.name, "kind": j.kind, "path": j.path, "files": list(j.files)} for j in todo]
    ds = rd.from_items(items, override_num_blocks=len(items))  # a block per video: each its own decode task
    # Decode and write book no CPU: the actors hold the cores (cores // workers each); these light stages run
    # beside them, at most two decodes per actor in flight, as run's capture and writer threads do.
    ds = ds.map_batches(decode_batch, batch_size=1, fn_kwargs={"every": cfg.every, "chunk": cfg.max_batch},
                        num_cpus=0, compute=rd.TaskPoolStrategy(size=max(1, min(len(todo), 2 * spec.workers))))
    ds = ds.map_batches(Infer, batch_size=cfg.max_batch, compute=rd.ActorPoolStrategy(size=spec.workers),
                        fn_constructor_kwargs={"model": model_ref, "provider": spec.provider,
                                               "threads": spec.threads, "size": cfg.size, "device": cfg.device,
                                               "precision": cfg.precision, "max_batch": cfg.max_batch},
                        **spec.ray_options())
    meta = plan.meta
    return ds.map_batches(write_batch, batch_size=None, num_cpus=0, compute=rd.TaskPoolStrategy(size=spec.workers),
                          fn_kwargs={"out": str(plan.out), "classes": list(meta.classes),
                                     "palette": [list(c) for c in meta.palette]})


def _user_error(exc: BaseException) -> UnetEdgeError | None:
    """The UnetEdgeError a stage raised, out of the exceptions Ray wraps it in."""
    seen, stack = set(), [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        cause = getattr(e, "cause", None)  # ray.exceptions.RayTaskError keeps the original here
        if isinstance(cause, UnetEdgeError):
            return cause
        if type(e).__module__.startswith("unet_edge") and isinstance(e, UnetEdgeError):
            return e
        stack += [cause, e.__cause__, e.__context__]
    return None


class _Driver:
    """What comes back from the write stage, gathered per video; finished videos written out."""

    def __init__(self, plan: LabelPlan, progress: Progress) -> None:
        self.plan, self.progress = plan, progress
        self.classes = list(plan.meta.classes)
        self.tallies = {j.name: VideoTally(j, len(self.classes)) for j in plan.todo}
        self.rows: dict[str, dict] = {}
        self.actors: Counter[str] = Counter()

    def take(self, batch: dict) -> None:
        for i in range(len(batch["video"])):
            tally = self.tallies[str(batch["video"][i])]
            if batch["last"][i]:
                tally.end(int(batch["frames"][i]), str(batch["failure"][i]), float(batch["t_start"][i]))
            else:
                before = len(tally.lines)
                tally.add(int(batch["index"][i]), str(batch["line"][i]), batch["counts"][i],
                          int(batch["pixels"][i]), str(batch["actor"][i]), float(batch["t_start"][i]))
                self.progress.add_frames(len(tally.lines) - before)
            if tally.complete and tally.job.name not in self.rows:
                self._finish(tally)

    def _finish(self, tally: VideoTally) -> None:
        row = tally.row(self.classes)
        if row["failure"] is None:
            finish_video(self.plan.out, tally.job, tally.ordered_lines(), row)
        self.rows[tally.job.name] = row
        self.actors.update(tally.actors)
        self.progress.video_done(failed=row["failure"] is not None)

    def close(self) -> None:
        """Rows for videos whose frames did not all come back (not marked done: a rerun labels them)."""
        for name, tally in self.tallies.items():
            if name not in self.rows:
                self.rows[name] = tally.row(self.classes)
                self.actors.update(tally.actors)


def _expected_frames(plan: LabelPlan, every: int) -> int:
    return sum(len(j.files) if j.kind == "images" else -(-declared_frames(j.path) // every) for j in plan.todo)


def _label(plan: LabelPlan, cfg: LabelConfig, spec: ActorSpec, progress_out: TextIO | None) -> _Driver:
    ray = require("ray")
    progress = Progress(len(plan.jobs), _expected_frames(plan, cfg.every), cfg.progress_every,
                        done=len(plan.done), out=progress_out)
    driver = _Driver(plan, progress)
    if not plan.todo:
        return driver
    ds = _dataset(plan, cfg, spec, ray.put(pack_model(plan.model, plan.settings["model_sha256"])))
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            driver.take(batch)
            progress.tick()
    except Exception as exc:
        error = _user_error(exc)
        if error is None:
            raise
        raise error from None
    driver.close()
    progress.tick(force=True)
    return driver


def label_fleet(cfg: LabelConfig, log: Callable[[str], None] = print, progress_out: TextIO | None = None) -> dict:
    """Label every video of ``cfg.source`` into ``cfg.out``; returns what was done. Every option is checked
    (``plan_label``) before Ray starts or anything is written."""
    plan = plan_label(cfg, log)
    t0 = time.monotonic()
    started = connect(cfg.ray_address, log)
    try:
        cpus, gpus, nodes = resources()
        spec = actor_spec(cfg.provider, cfg.workers, cpus, gpus, plan.model)
        start_out(plan.out, plan.settings)  # the first write: every check has passed
        log(f"label: {len(plan.todo)} of {len(plan.jobs)} videos to label ({len(plan.done)} done before) with "
            f"{plan.model.name} on Ray: {nodes} node(s), {cpus:g} CPUs, {gpus:g} GPUs; {spec.workers} actor(s) "
            f"x {spec.threads} threads, --provider {spec.provider}")
        driver = _label(plan, cfg, spec, progress_out)
    finally:
        disconnect(started)
    rows = {j.name: resumed_row(plan.done[j.name]) for j in plan.jobs if j.name in plan.done}
    rows.update(driver.rows)
    ordered = [rows[j.name] for j in plan.jobs]
    write_summary(plan.out / SUMMARY, ordered, plan.meta.classes)
    return _report(plan, driver, ordered, time.monotonic() - t0, log)


def _report(plan: LabelPlan, driver: _Driver, rows: list[dict], wall: float, log: Callable[[str], None]) -> dict:
    fresh = [r for r in rows if not r["resumed"]]
    failed = [r for r in fresh if r["failure"]]
    frames = sum(r["frames"] for r in fresh)
    for actor, n in sorted(driver.actors.items()):
        log(f"label: actor {actor} (node:pid) inferred {n} frames")
    for r in failed:
        log(f"label: {r['video']}: {r['failure']}")
    log(f"label: {len(fresh) - len(failed)} videos labelled, {len(failed)} failed, {len(rows) - len(fresh)} done "
        f"before; {frames} frames in {wall:.1f} s ({frames / max(wall, 1e-9):.1f} fps); {plan.out / SUMMARY}")
    return {"out": str(plan.out), "videos": len(rows), "labelled": len(fresh) - len(failed), "failed": len(failed),
            "done_before": len(rows) - len(fresh), "frames": frames, "wall_s": round(wall, 3),
            "actors": dict(driver.actors), "summary": str(plan.out / SUMMARY)}
