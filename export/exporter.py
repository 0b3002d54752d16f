"""``unet-edge export``: any model form -> FP32 / FP16 / INT8 ONNX (+ engines where TensorRT runs), verified.

One pipeline for every model: :func:`.bodies.open_body` turns the MODEL into a float-logits ONNX
body with its contract and reference runner; then wrap (the deploy graph) -> FP16 -> INT8 -> verify
-> reports -> engines, whatever the model's form.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import write_meta
from unet_edge.export.export_options import ExportOptions
from unet_edge.models.foreign import ForeignSpec

__all__ = ["ExportOptions", "ExportResult", "export_model"]


@dataclass
class ExportResult:
    """What an export wrote and measured."""

    artifacts: list[Path]
    reference: str  # what every artifact was checked against
    verification: list[dict] = field(default_factory=list)  # the precision gate's rows
    reports: dict[str, dict] = field(default_factory=dict)  # each artifact's report, by path
    engines: list[Path] = field(default_factory=list)
    build_commands: list[str] = field(default_factory=list)  # where TensorRT is not here

    def to_json(self) -> dict:
        return {"artifacts": [str(p) for p in self.artifacts], "engines": [str(e) for e in self.engines],
                "reference": self.reference, "verification": self.verification,
                "build_commands": self.build_commands, "reports": self.reports}


def export_model(path: str | Path, opts: ExportOptions, log: Callable[[str], None] = print, *,
                 spec: ForeignSpec | None = None, also_writes: Mapping[str, Path | None] | None = None) -> ExportResult:
    """Export any MODEL (a checkpoint, a PyTorch model described by ``spec``, a float ONNX graph) per ``opts``.

    The plan is checked whole first (``also_writes``: the caller's other outputs by option, e.g. ``--json``).
    Everything is written aside (:mod:`.staging`) and replaces the earlier artifacts, sidecars and reports
    only once every stage asked for has passed; a failure leaves them byte-identical. A missed INT8
    graph is the one thing a failure puts in place, as ``.rejected.onnx``, for the user to look at."""
    from unet_edge.export.bodies import open_body
    from unet_edge.export.export_plan import check_plan
    from unet_edge.export.report import StageTimes, write_reports
    from unet_edge.export.staging import Staging
    from unet_edge.export.verify import enforce

    plan = check_plan(path, opts, also_writes)
    t0 = time.monotonic()
    stages = StageTimes()
    with stages("model"):
        body = open_body(Path(path), spec, opts, log)
    log(f"input contract: {contract_line(body)}")  # before any stage: what goes into the graph, and why
    with Staging(plan.out) as staging:
        run = _Run(body, opts, log, staging, plan.stem)
        rejected, gate = run.stages(stages)
        rows = [r.to_dict() for r in gate]
        log(stages.line(run.measured))
        reports = write_reports(run.artifacts, run.measured, rows, time.monotonic() - t0, run.body.reference_name,
                                run.body.identity.contract, stages.record(run.measured))
        if rejected is not None:  # its graph, sidecar and report are put in place, nothing else
            rejected.path = staging.final(rejected.path)
            staging.publish(lambda p: ".rejected." in p.name)
            raise rejected
        enforce(gate, run.body.reference_name)
        written = [(staging.final(p), precision) for p, precision in run.artifacts]
        reports = {str(staging.final(Path(k))): v for k, v in reports.items()}
        staging.publish()
    result = ExportResult([p for p, _ in written], run.body.reference_name, rows, reports)
    run = None  # noqa: F841
    gc.collect()  # free the PyTorch model before a TensorRT build: Jetsons have 4-8 GB shared
    from unet_edge.export.tensorrt.from_export import engines_for

    result.engines, result.build_commands = engines_for(written, opts, log)
    return result


def contract_line(body) -> str:
    """The model's contract as stated (``body.identity.contract``, what the sidecar records), in one line."""
    from unet_edge.models.contract import IOContract

    return IOContract.from_json(body.identity.contract).describe(body.graph.size)


class _Run:
    """One export's state: the body, the artifacts written so far, what each stage measured, the gate's
    frames and the searches' (disjoint), with the reference's masks on both (run once)."""

    def __init__(self, body, opts: ExportOptions, log: Callable[[str], None], staging, stem: str) -> None:
        from unet_edge.export.sidecar import base_meta
        from unet_edge.export.verify import search_set, verification_set

        self.body, self.opts = body, opts
        self.log = lambda message: log(staging.shown(message))  # "wrote OUT/best.onnx", not its staging folder
        self.meta = base_meta(body, opts)
        self.staging, self.stem = staging, stem  # the stem never names the source (export_plan.artifact_stem)
        self.artifacts: list[tuple[Path, str]] = []
        self.measured: dict[Path, dict] = {}
        size, classes = body.graph.size, body.contract.classes
        self.checked = verification_set(opts, size, classes, log) if opts.verify else None
        self.searched = search_set(opts, size, classes, self.checked) if self.checked else None
        if self.checked:
            log(f"verifying on {self.checked.source}; FP16 and INT8 choose their float layers on "
                f"{self.searched.source}")
        self._masks: dict[str, list[np.ndarray]] = {}
        self._ties: list[float] = []

    @property
    def out(self) -> Path:
        """Where the stages write: the staging folder, made at the first write."""
        return self.staging.dir

    def stages(self, stages) -> tuple[Exception | None, list]:
        """FP32, FP16 and INT8 as asked, then the gate and OpenVINO's bf16: (INT8's rejection or None,
        the gate's rows)."""
        from unet_edge.core.errors import Int8Rejected

        opts = self.opts
        with stages("fp32"):
            self.fp32()
        if opts.fp16:
            with stages("fp16"):
                self.fp16()
        rejected = None
        if opts.int8:
            try:
                with stages("int8"):
                    self.int8()
            except Int8Rejected as miss:  # verified and reported like the others, then raised
                rejected = miss
        with stages("verification"):
            gate = self.verify() if opts.verify else []
        if gate:
            with stages("openvino_bf16"):
                self.verify_bf16([r for r in gate if r.passed])
        return rejected, gate

    def deploy(self, fp16_keep: list[str] | None = None, src=None):
        """The deploy graph of the body (or of ``src``), in FP16 but for ``fp16_keep`` where given."""
        from unet_edge.export.deploy_graph import deploy_graph

        o = self.opts
        return deploy_graph(src or self.body.graph, o.opset, o.dynamic, o.confidence, o.logits, fp16_keep)

    def write(self, dest: Path, precision: str | None, graph, extra: dict | None = None) -> None:
        """Write ``graph`` atomically with its metadata; with a ``precision``, its sidecar too, as an artifact."""
        from unet_edge.core.io import atomic_path
        from unet_edge.core.lazy import require
        from unet_edge.export.onnx_export import check, set_metadata

        onnx = require("onnx")
        data = {**self.meta, "precision": precision or "fp32", **(extra or {})}
        with atomic_path(dest) as tmp:
            graph = check(graph, str(dest))
            set_metadata(graph, data)
            onnx.save_model(graph, str(tmp), save_as_external_data=False)
        if precision is None:
            return
        write_meta(dest, data)
        self.artifacts.append((dest, precision))
        self.log(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, {precision})")

    @property
    def fp32_path(self) -> Path:
        return self.out / f"{self.stem}.onnx"

    def fp32(self) -> None:
        self._fp32_graph = self.deploy()
        self.write(self.fp32_path, "fp32", self._fp32_graph)

    def fp16(self) -> None:
        from unet_edge.export.fp16_onnx import ISLAND_FRAMES, fp16_islands
        from unet_edge.export.frame_sets import synthetic_frames
        from unet_edge.export.naming import display_name
        from unet_edge.export.thresholds import FP16_MAX_ERROR

        frames = self.searched.frames if self.searched else synthetic_frames(self.body.graph.size, ISLAND_FRAMES)[0]
        keep, done, drift = fp16_islands(self._fp32_graph, frames, self.body.module_paths)
        kept = done["fp32_layers"]
        self.log(f"FP16: {len(kept)} layers kept in FP32 (overflow, or drift > {100 * FP16_MAX_ERROR:.0f}% of their "
                 "range)" + (f": {', '.join(map(display_name, kept))}" if kept else ""))
        dest = self.out / f"{self.stem}.fp16.onnx"
        self.write(dest, "fp16", self.deploy(keep), {"fp16": done})
        self.measured[dest] = {"fp16": {"drift": drift}}

    def reference_masks(self, which: str = "checked") -> list[np.ndarray] | None:
        """The reference's masks on the gate's frames (``checked``) or the searches' (``searched``): None
        without them, or for a --logits graph, whose gate compares logits. ``_ties`` gets the near-tie
        share of each search frame."""
        from unet_edge.export.verify import mask_and_near_ties

        if self.checked is None or self.opts.logits:
            return None
        if not self._masks:
            with self.body.open_reference(self.body.graph.size) as ref:  # once, for both sets
                for name in ("checked", "searched"):
                    self._masks[name] = []
                    for frame in getattr(self, name).frames:
                        if self.body.graph.kind == "ids":
                            mask, share = ref.infer(frame), 0.0
                        else:
                            mask, share = mask_and_near_ties(ref.logits(frame))
                        self._masks[name].append(mask)
                        if name == "searched":
                            self._ties.append(share)
        return self._masks[which]

    def int8(self) -> None:
        import tempfile

        from unet_edge.core.errors import Int8Rejected
        from unet_edge.export.int8.stage import Int8Job, Int8Reference, int8_path, write_int8

        masks = self.reference_masks("searched")
        reference = None
        if masks is not None:
            s = self.searched
            reference = Int8Reference(s.frames, masks, s.labels, float(np.mean(self._ties)))
        dest = int8_path(self.out, self.stem, self.opts.int8_target)
        with tempfile.TemporaryDirectory(dir=self.out, prefix=".int8-src-") as tmpdir:
            source = None
            if self.body.cpu_int8_graph is not None:
                source = Path(tmpdir) / f"{self.stem}.onnx"
                self.write(source, None, self.deploy(src=self.body.cpu_int8_graph))
            job = Int8Job(dest, self.fp32_path, self.meta, self.body.graph.size, list(self.body.contract.classes),
                          self.opts, self.body.module_paths, source)
            try:
                self.measured[dest] = write_int8(job, reference, self.log)
            except Int8Rejected as miss:
                self.measured[miss.path] = miss.measured
                self.artifacts.append((miss.path, "int8"))
                raise
        self.artifacts.append((dest, "int8"))

    def verify_bf16(self, passed: list) -> None:
        """OpenVINO's bf16 execution of the artifacts that passed the gate, recorded in their contracts."""
        from unet_edge.export.criterion import gate_of
        from unet_edge.export.native_precision import checkable, verify_bf16

        names = {r.artifact for r in passed}
        artifacts = checkable([(p, prec) for p, prec in self.artifacts if p.name in names], self.log)
        if not artifacts:  # before the reference runs again for a --logits graph: nothing to check
            return
        c = self.checked
        ref = self.reference_masks()
        if ref is None:  # a --logits graph's gate compared logits: its masks are their argmax
            with self.body.open_reference(self.body.graph.size) as r:
                ref = [r.logits(f).argmax(0).astype(np.uint8) for f in c.frames]
        found = verify_bf16(artifacts, c.frames, ref, c.labels, list(self.body.contract.classes),
                            gate_of(self.opts), self.log)
        for path, part in found.items():
            self.measured.setdefault(path, {}).update(part)

    def verify(self) -> list:
        from unet_edge.export.criterion import gate_of
        from unet_edge.export.verify import format_table, verify

        c = self.checked
        masks = self.reference_masks()  # before the reference opens below: never two copies of it at once
        with self.body.open_reference(self.body.graph.size) as ref:
            rows = verify(ref, self.artifacts, c, self.opts.logits, gate_of(self.opts), masks)
        self.log(format_table(rows, c.source, self.body.reference_name))
        return rows
