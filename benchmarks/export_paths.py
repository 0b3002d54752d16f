"""Export paths before/after: four small models through ``unet-edge export --fp16 --int8 --int8-target cpu``.

    .venv/bin/python benchmarks/export_paths.py --workdir /tmp/export_paths --out benchmarks/results/export_paths.json

Models (made once into --workdir with fixed seeds, then reused, so a run with another interpreter, i.e. other
code, exports the same weights): a) unet-lite as the demo trains it, b) the seeds' unet at width 16 without
BatchNorm, c) a) 's torch body as a plain torch.onnx float NCHW logits graph, d) torchvision's LR-ASPP trained
briefly with ``train --model-class``. All on ``unet-edge synth --frames 200 --size 96x128``; calibration and
verification on its labelled frames. Only the CLI (``python -m unet_edge``) exports, so the script runs against
old and new code alike. Per artifact: the gate row, FP16 layers kept in FP32, INT8 float layers, file size, the
sidecar's key set and ONNX Runtime latency (one process, the three artifacts in alternating blocks, median ms).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZE = "64x96"
COMMON_TRAIN = ("--dataset", "folder", "--size", SIZE, "--epochs", "8", "--batch", "16", "--lr", "3e-3",
                "--scale", "0.9,1.3", "--class-weights", "none", "--seed", "0", "--workers", "2")
LRASPP = "torchvision.models.segmentation:lraspp_mobilenet_v3_large"
TV_KW = {"num_classes": 11, "weights": None, "weights_backbone": None}
TRAIN = {  # name: extra `unet-edge train` options
    "a_unetlite": ("--arch", "unet-lite"),
    "b_unet16_nobn": ("--arch", "unet", "--width", "16", "--no-batchnorm"),
    "d_lraspp": ("--model-class", LRASPP, "--model-kwargs", json.dumps(TV_KW), "--rgb", "--input-norm", "imagenet"),
}
MODELS = ("a_unetlite", "b_unet16_nobn", "c_onnx_of_a", "d_lraspp")


def cli(*args: str, cwd: Path) -> tuple[int, str, float]:
    """``unet-edge ARGS`` with this interpreter (cwd: the workdir, never a source tree that would shadow
    the installed package): exit code, stderr's tail, seconds."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "unet_edge", *args], cwd=cwd, capture_output=True, text=True)
    return proc.returncode, (proc.stderr.strip() or proc.stdout.strip())[-1500:], round(time.monotonic() - t0, 1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def make_models(work: Path) -> dict[str, Path]:
    """The synthetic data and the four models, made only where missing (a run folder is renamed into place
    when its training finished, so an interrupted one is redone)."""
    syn = work / "syn"
    if not (syn / "classes.json").is_file():
        rc, err, _ = cli("synth", str(syn), "--frames", "200", "--size", "96x128", "--seed", "0",
                         "--clip-frames", "0", "--force", cwd=work)
        assert rc == 0, err
    paths = {}
    for name, extra in TRAIN.items():
        run = work / "models" / name
        if not (run / "best.pt").is_file():
            tmp = run.with_name(name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"training {name} ...", flush=True)
            rc, err, secs = cli("train", "--data", str(syn), *COMMON_TRAIN, *extra, "--out", str(tmp), cwd=work)
            assert rc == 0, f"train {name}: {err}"
            print(f"  {secs:.0f}s", flush=True)
            tmp.rename(run)
        paths[name] = run / "best.pt"
    onnx = work / "models" / "c_onnx_of_a.onnx"
    if not onnx.is_file():
        import warnings

        import torch

        from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

        ckpt = load_checkpoint(paths["a_unetlite"])
        assert ckpt.mean == (0.485, 0.456, 0.406) and ckpt.std == (0.229, 0.224, 0.225), "not ImageNet"
        body = model_from_checkpoint(ckpt).eval()
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(body, torch.zeros(1, 3, *ckpt.input_size), str(onnx.with_suffix(".tmp")),
                              opset_version=17, dynamo=False, input_names=["image"], output_names=["out"])
        onnx.with_suffix(".tmp").rename(onnx)
    paths["c_onnx_of_a"] = onnx
    return paths


def export(model: Path, work: Path, out: Path, args) -> dict:
    """One ``unet-edge export`` of ``model`` into ``out`` (emptied first): its exit code, seconds and JSON."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    syn = f"folder:{work / 'syn'}"
    foreign = ("--input-norm", "imagenet", "--rgb", "--classes", str(work / "syn" / "classes.json"))
    rc, err, secs = cli("export", str(model), *(foreign if model.suffix == ".onnx" else ()), "--out", str(out),
                        "--fp16", "--int8", "--int8-target", "cpu", "--calib", syn, "--calib-frames",
                        str(args.calib_frames), "--verify-data", syn, "--verify-frames", str(args.verify_frames),
                        "--int8-search-minutes", str(args.search_minutes), "--no-build",
                        "--json", str(out / "export.json"), cwd=work)
    result = json.loads((out / "export.json").read_text()) if (out / "export.json").is_file() else {}
    return {"rc": rc, "seconds": secs, "error": None if rc == 0 else err.splitlines()[-1], "json": result}


def artifacts(exp: dict, out: Path, work: Path) -> dict[str, dict]:
    """Per precision: the gate row, FP16's FP32 layers, INT8's float layers, size and the sidecar's keys
    (from the export's JSON; after a failed export, from the sidecars it left)."""
    rows = {r["precision"]: r for r in exp["json"].get("verification", [])}
    found = exp["json"].get("artifacts") or [str(p) for p in sorted(out.glob("*.onnx"))]
    res = {}
    for a in found:
        path = Path(a) if Path(a).is_absolute() else work / a
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        prec = meta.get("precision", "?") + (" (rejected)" if ".rejected." in path.name else "")
        row = rows.get(meta.get("precision"), {}) if ".rejected." not in path.name else {}
        report = exp["json"].get("reports", {}).get(a, {})
        int8 = report.get("int8") or {}
        res[prec] = {
            "path": str(path), "mb": round(path.stat().st_size / 2**20, 3), "input_hw": meta["input"]["shape"][1:3],
            "gate": {k: row.get(k) for k in ("criterion", "agreement", "miou_delta", "worst_class",
                                               "worst_class_delta", "passed", "drops")},
            "fp16_fp32_layers": (meta.get("fp16") or {}).get("fp32_layers"),
            "int8_float_layers": meta.get("float_layers"),
            "int8_sidecar": meta.get("int8"),
            "int8_report": {k: int8.get(k) for k in ("method", "equalized_activations", "calibration_frames",
                                                     "reduce_range", "speed")} if int8 else None,
            "summary": report.get("summary"),
            "sidecar_keys": sorted(meta),
        }
    return res


def latency(arts: dict[str, dict], warmup: int, rounds: int, iters: int, frame_dir: Path) -> dict[str, dict]:
    """ONNX Runtime ms per frame of each artifact, in one process: warm-ups, then ``rounds`` blocks of
    ``iters`` frames per artifact in turn; the median of the blocks' means, and their spread."""
    import cv2

    from unet_edge.runtime.runners import open_runner

    images = sorted(frame_dir.glob("*.png"))[:8]
    runners = {p: open_runner(a["path"]) for p, a in arts.items()}
    times: dict[str, list[float]] = {p: [] for p in arts}
    try:
        frames = {}
        for p, r in runners.items():
            r.activate()
            h, w = arts[p]["input_hw"]
            frames[p] = [cv2.resize(cv2.imread(str(f)), (w, h)) for f in images]
            for i in range(warmup):
                r.infer(frames[p][i % len(frames[p])])
        for _ in range(rounds):
            for p, r in runners.items():
                t0 = time.perf_counter()
                for i in range(iters):
                    r.infer(frames[p][i % len(frames[p])])
                times[p].append((time.perf_counter() - t0) * 1000 / iters)
    finally:
        for r in runners.values():
            r.deactivate()
    return {p: {"median_ms": round(statistics.median(t), 3), "min_ms": round(min(t), 3),
                "max_ms": round(max(t), 3)} for p, t in times.items()}


def code_info() -> dict:
    import onnxruntime

    import unet_edge
    import unet_edge.export

    src = Path(unet_edge.__file__).resolve().parents[1]
    git = ["git", "-C", str(src)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    return {"python": sys.executable, "source": str(src), "export_package": list(unet_edge.export.__path__),
            "git_head": head, "git_changed": [ln[3:] for ln in dirty.splitlines()][:40],
            "onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/export_paths"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "export_paths.json")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calib-frames", type=int, default=64)
    ap.add_argument("--verify-frames", type=int, default=24)
    ap.add_argument("--search-minutes", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    info = code_info()
    print(f"code: {info['source']} @ {info['git_head'][:10]} ({len(info['git_changed'])} changed files)", flush=True)
    paths = make_models(work)
    results = {}
    for name in args.models.split(","):
        out = work / "exports" / args.out.stem / name
        print(f"exporting {name} ...", flush=True)
        exp = export(paths[name], work, out, args)
        arts = artifacts(exp, out, work)
        ok = {p: a for p, a in arts.items() if "rejected" not in p}
        for p, t in latency(ok, args.warmup, args.rounds, args.iters, work / "syn" / "images").items():
            arts[p]["latency"] = t
        results[name] = {"model": str(paths[name]), "model_sha256": sha256(paths[name]), "rc": exp["rc"],
                         "export_seconds": exp["seconds"], "error": exp["error"], "artifacts": arts}
        print(f"  rc {exp['rc']}, {exp['seconds']:.0f}s" + (f": {exp['error']}" if exp["error"] else ""), flush=True)
    payload = {"code": info, "options": {k: v for k, v in vars(args).items() if k not in ("workdir", "out")},
               "workdir": str(work), "d_lraspp": "trained 8 epochs with train --model-class (not random init)",
               "seconds": round(time.monotonic() - t0, 1), "loadavg_end": os.getloadavg(), "models": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1))
    print_table(results)
    print(f"\n{payload['seconds']:.0f}s; wrote {args.out}")


def print_table(results: dict) -> None:
    head = ("model", "prec", "gate", "agree%", "dmIoU pts", "worst class pts", "fp32/float layers", "MB", "ms")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, res in results.items():
        for prec, a in res["artifacts"].items():
            g = a["gate"]
            layers = a["fp16_fp32_layers"] if prec == "fp16" else a["int8_float_layers"]
            cells = (name, prec, {True: "pass", False: "FAIL"}.get(g["passed"], "-"),
                     f"{100 * g['agreement']:.2f}" if g["agreement"] is not None else "-",
                     f"{100 * g['miou_delta']:+.2f}" if g["miou_delta"] is not None else "-",
                     f"{g['worst_class']} {100 * g['worst_class_delta']:+.2f}" if g["worst_class"] else "-",
                     "-" if layers is None else f"{len(layers)}: {','.join(layers)}" if layers else "0",
                     f"{a['mb']:.2f}", a.get("latency", {}).get("median_ms", "-"))
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
