"""``unet-edge export``: any model form -> FP32 / FP16 / INT8 ONNX (+ engines where TensorRT runs), verified.

One pipeline for every model: :func:`.bodies.open_body` turns the MODEL into a float-logits ONNX
body with its contract and reference runner; then wrap (the deploy graph) -> FP16 -> INT8 -> verify
-> reports -> engines, whatever the model's form.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet_edge.core.artifact import INT8_TARGETS, write_meta
from unet_edge.core.errors import ConfigError
from unet_edge.core.options import opt
from unet_edge.core.parse import parse_size
from unet_edge.export.tensorrt.from_export import DEFAULT_WORKSPACE_GB
from unet_edge.export.thresholds import (
    DEFAULT_AGREEMENT_FLOOR,
    DEFAULT_MAX_CLASS_DROP,
    DEFAULT_MAX_MIOU_DROP,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_SEARCH_MINUTES,
)
from unet_edge.models.foreign import ForeignSpec

DEFAULT_OPSET = 17  # TensorRT 8.5/8.6 (JetPack 5, JetPack 6.0) parse opsets up to 17
DEFAULT_CALIB_FRAMES = 500
DEFAULT_VERIFY_FRAMES = 24


def _points(value: float) -> float:
    return value / 100


@dataclass
class ExportOptions:
    """Every option of ``unet-edge export`` with its default and help (the CLI is bound to it)."""

    fp16: bool = opt(False, "also write the mixed-precision FP16 ONNX")
    int8: bool = opt(False, "also write an INT8 QDQ ONNX (needs --calib)")
    calib: str | None = opt(None, "calibration frames: DIR, VIDEO or LAYOUT:PATH")
    calib_frames: int = opt(DEFAULT_CALIB_FRAMES, "frames used for calibration")
    calib_method: str | None = opt(None, "minmax | percentile | entropy (default: try each, keep the best)")
    # INT8: pixel agreement with the FP32 model, a floor beside accuracy where the verification frames have
    # labels, the criterion without (None: DEFAULT_AGREEMENT_FLOOR or DEFAULT_MIN_AGREEMENT)
    min_agreement: float | None = opt(
        None, "INT8: pixel agreement with the FP32 model (a fraction). Where the verification frames have labels, "
              f"a floor beside accuracy (default {DEFAULT_AGREEMENT_FLOOR}); without, the criterion (default "
              f"{DEFAULT_MIN_AGREEMENT})", show_default=False)
    # fractions inside, points on the command line
    max_miou_drop: float = opt(DEFAULT_MAX_MIOU_DROP, "INT8 and FP16, where the verification frames have labels: "
                               "at most this many mIoU points lost", shown=100 * DEFAULT_MAX_MIOU_DROP,
                               parse=_points)
    max_class_drop: float = opt(DEFAULT_MAX_CLASS_DROP, "and no class's IoU down by more than this many points",
                                shown=100 * DEFAULT_MAX_CLASS_DROP, parse=_points)
    int8_search_minutes: float = opt(DEFAULT_SEARCH_MINUTES,
                                     "budget of INT8's float-layer search (calibration not counted)")
    int8_target: str = opt(INT8_TARGETS[0], f"INT8 flavour: {' | '.join(INT8_TARGETS)} (cpu: ONNX Runtime's "
                                                    "quantizer; openvino: NNCF's, run with --provider openvino)")
    opset: int = opt(DEFAULT_OPSET)
    dynamic: bool = opt(False, "dynamic batch/height/width (multiples of 16)")
    simplify: bool = opt(False, "simplify with onnxslim/onnxsim")
    logits: bool = opt(False, "output raw logits instead of class ids")
    confidence: bool = opt(False, "a second output: uint8 255 x max softmax probability")
    subpixel: bool = opt(False, "ConvTranspose -> Conv + DepthToSpace (exact)")
    size: tuple[int, int] | None = opt(None, "input HxW (default: the training size)", cli_type=str | None,
                                       parse=parse_size)
    out: Path | None = opt(None, "output folder (default: beside the checkpoint)")
    verify_data: str | None = opt(None, "frames: LAYOUT:PATH, DIR or VIDEO")
    verify_frames: int = opt(DEFAULT_VERIFY_FRAMES)
    verify: bool = opt(True, "check parity with the source model", flags=("--verify/--no-verify",))
    build: bool = opt(True, "build engines if TensorRT imports", flags=("--build/--no-build",))
    workspace_gb: float = opt(DEFAULT_WORKSPACE_GB, "TensorRT workspace in GB", flags=("--workspace",))


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
                 spec: ForeignSpec | None = None) -> ExportResult:
    """Export any MODEL (a checkpoint, a PyTorch model described by ``spec``, a float ONNX graph) per ``opts``."""
    from unet_edge.core.errors import Int8Rejected
    from unet_edge.export.bodies import open_body
    from unet_edge.export.report import StageTimes, write_reports
    from unet_edge.export.verify import enforce

    t0 = time.monotonic()
    if opts.logits and opts.confidence:
        raise ConfigError("--confidence goes with the class-id graph, not --logits (softmax the logits yourself)")
    stages = StageTimes()
    with stages("model"):
        body = open_body(Path(path), spec, opts, log)
    log(f"input contract: {contract_line(body)}")  # before any stage: what goes into the graph, and why
    run = _Run(body, opts, log)
    with stages("fp32"):
        run.fp32()
    if opts.fp16:
        with stages("fp16"):
            run.fp16()
    rejected = None
    if opts.int8:
        try:
            with stages("int8"):
                run.int8()
        except Int8Rejected as miss:  # verified and reported like the others, then raised
            rejected = miss
    with stages("verification"):
        gate = run.verify() if opts.verify else []
    if gate:
        with stages("openvino_bf16"):
            run.verify_bf16([r for r in gate if r.passed])
    rows = [r.to_dict() for r in gate]
    log(stages.line(run.measured))
    # a failed gate's measurements are kept too
    reports = write_reports(run.artifacts, run.measured, rows, time.monotonic() - t0, run.body.reference_name,
                            run.body.identity.contract, stages.record(run.measured))
    if rejected is not None:
        raise rejected
    enforce(gate, run.body.reference_name)
    written = run.artifacts
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

    def __init__(self, body, opts: ExportOptions, log: Callable[[str], None]) -> None:
        from unet_edge.export.sidecar import base_meta
        from unet_edge.export.verify import search_set, verification_set

        self.body, self.opts, self.log = body, opts, log
        self.meta = base_meta(body, opts)
        source = body.identity.source_file
        self.out = Path(opts.out or source.parent)
        self.out.mkdir(parents=True, exist_ok=True)
        stem = source.stem
        # an artifact must never overwrite its source (an ONNX graph exported into its own folder)
        self.stem = f"{stem}.deploy" if (self.out / f"{stem}.onnx").resolve() == source.resolve() else stem
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
