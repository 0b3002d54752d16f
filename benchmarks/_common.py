"""Shared helpers of the benchmark scripts (not part of the installed package)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CAMVID = Path(os.environ.get("UNET_EDGE_CAMVID", REPO.parent / "shared" / "data" / "camvid"))


def model_and_input(doc: str | None, flag: str, what: str) -> argparse.ArgumentParser:
    """The command line of a script that streams an input through an exported model: ``--model`` and
    ``flag`` (``what`` says which input), both required; the script adds its own options."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="an exported model (.onnx or .engine)")
    ap.add_argument(flag, type=Path, required=True, help=what)
    return ap


def save(name: str, payload: dict) -> Path:
    """Write ``payload`` (plus the system description) to benchmarks/results/NAME.json."""
    from unet_edge.core.io import write_json_atomic
    from unet_edge.core.sysinfo import system

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {**payload, "system": system(), "command": " ".join([Path(sys.executable).name,
                                                                                  *sys.argv])})
    print(f"\nwrote {path.relative_to(REPO)}")
    return path


def table(headers: list[str], rows: list[list]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def synth_data(root: Path, frames: int, size=(360, 480)) -> Path:
    from unet_edge.synth.writer import write_synth

    if not (root / "classes.json").is_file():
        write_synth(root, frames=frames, size=size, seed=3, clip_frames=300, force=True)
    return root


def val_scorer(onnx: Path, verify_frames: int):
    """For an FP32 deploy graph: its contract, input size, the first CamVid val frames and a ``Scorer``
    against its masks and their labels (what the INT8 sweeps score each quantized graph with)."""
    from unet_edge.core.artifact import load_meta
    from unet_edge.export.criterion import Scorer
    from unet_edge.export.frame_sets import load_frames
    from unet_edge.export.verify import onnx_masks

    contract = load_meta(onnx).to_dict()
    size = tuple(contract["input"]["shape"][1:3])
    frames, labels, _ = load_frames(f"camvid:{CAMVID}", size, verify_frames, "val")
    return contract, size, frames, Scorer(onnx_masks(onnx, frames, contract), labels, contract["classes"])
