"""``unet-edge export``'s plan, checked whole before its first write: every option's value, the data it
reads, and the files it writes, none of which may be an input or lie inside one.

The outputs are the files themselves (``best.onnx``, its sidecar and report, ...), not the ``--out``
folder: the default ``--out`` is the MODEL's own folder, which holds the MODEL, and a folder that
holds the calibration data beside the artifacts is fine; an artifact written into a data folder is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.artifact import sidecar_path
from unet_edge.core.errors import ConfigError
from unet_edge.core.options import check_config
from unet_edge.core.plan import check_disjoint
from unet_edge.export.frame_sets import spec_path
from unet_edge.export.int8.search import rejected_path
from unet_edge.export.int8.stage import int8_path
from unet_edge.export.report import report_path


@dataclass(frozen=True)
class ExportPlan:
    """Where an export writes: the output folder and the artifacts' stem."""

    out: Path
    stem: str


def check_options(opts) -> None:
    """Refuse a value of ``opts`` (ExportOptions) that the export would refuse later, in one line naming
    the option: bounds and choices declared on the fields, then what depends on several of them."""
    from unet_edge.export.int8.calibration import parse_methods

    check_config(opts)
    # in points on the command line (and in these lines); fractions inside, so not the fields' bounds
    for option, value in (("--max-miou-drop", opts.max_miou_drop), ("--max-class-drop", opts.max_class_drop)):
        if not 0 <= value <= 1:
            raise ConfigError(f"{option} {100 * value:g}: must be from 0 to 100 (points)")
    if opts.logits and opts.confidence:
        raise ConfigError("--confidence goes with the class-id graph, not --logits (softmax the logits yourself)")
    if not opts.int8:
        return
    if opts.logits:
        raise ConfigError("--int8 with --logits is not supported: quantize the class-id graph")
    if not opts.calib:
        raise ConfigError(f"--int8 (--int8-target {opts.int8_target}) needs real calibration frames: --calib DIR|VIDEO "
                          "or --calib LAYOUT:PATH (never random data)")
    if opts.int8_target == "openvino" and opts.calib_method:
        raise ConfigError(f"--calib-method {opts.calib_method}: applies to ONNX Runtime's quantizer; --int8-target "
                          "openvino calibrates with NNCF")
    parse_methods(opts.calib_method)


def artifact_stem(model: Path, out: Path) -> str:
    """The artifacts' stem: the MODEL's, or ``<stem>.deploy`` where ``<stem>.onnx`` would be the MODEL
    itself (an ONNX graph exported into its own folder)."""
    stem = model.stem
    return f"{stem}.deploy" if (out / f"{stem}.onnx").resolve() == model.resolve() else stem


def artifact_names(stem: str, opts) -> list[str]:
    """The artifacts an export of ``opts`` may write (a missed INT8 graph's ``.rejected.onnx`` included)."""
    names = [f"{stem}.onnx"] + ([f"{stem}.fp16.onnx"] if opts.fp16 else [])
    if opts.int8:
        dest = int8_path(Path("."), stem, opts.int8_target)
        names += [dest.name, rejected_path(dest).name]
    return names


def check_plan(model: str | Path, opts, also: Mapping[str, Path | None] | None = None) -> ExportPlan:
    """The plan of exporting ``model`` per ``opts``, checked: the options, the data folders, and the
    outputs against the inputs. ``also``: other outputs by option (the CLI's ``--json``, ``--triton``)."""
    check_options(opts)
    model = Path(model)
    data = {"--calib": opts.calib, "--verify-data": opts.verify_data}
    for option, spec in data.items():
        if spec and not spec_path(spec).exists():
            raise ConfigError(f"{option} {spec}: no such file or folder")
    out = Path(opts.out) if opts.out is not None else model.parent
    stem = artifact_stem(model, out)
    files = []
    for name in artifact_names(stem, opts):
        files += [out / name, sidecar_path(out / name), report_path(out / name)]
    inputs = {"MODEL": model, **{k: spec_path(v) for k, v in data.items() if v}}
    check_disjoint(inputs, {"--out": files, **(also or {})})
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder for the artifacts")
    return ExportPlan(out, stem)
