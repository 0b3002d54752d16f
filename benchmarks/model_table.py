"""The model table: accuracy, cost and INT8 behaviour of trained models, side by side in one run.

    python benchmarks/model_table.py --run lite0=RUN_A[:HOLDOUT_RUN] --run unet-lite=RUN_B ...

Per model: its initialisation, parameters, GFLOP at 352x480 (convolutions and matrix products),
training minutes (from the run's last.pt), CamVid val mIoU and per-class IoU with the model run at
the frames' own 360x480, the mIoU on CamVid sequence 0006R0 of the run trained with ``--holdout
0006R0`` (when given), ONNX Runtime FP32 and INT8 (CPU flavour) ms at 352x480 (interleaved medians),
and the INT8 export's agreement, float layers, worst class change and calibration peak memory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import CAMVID, save, table
from gflops import conv_flops

SIZE = (352, 480)


def score(ckpt: Path, split: str, holdout: str | None = None) -> dict:
    from unet_edge.data import open_dataset
    from unet_edge.evaluate import evaluate
    from unet_edge.torch_runner import TorchRunner

    ds = open_dataset("camvid", CAMVID, split, holdout=holdout)
    with TorchRunner(ckpt, input_size=(360, 480)) as runner:
        return evaluate(runner, ds)["scores"]


def row(name: str, run: Path, holdout_run: Path | None, calib_frames: int, verify_frames: int,
        keep: bool = False, targets: tuple[str, ...] = ("cpu",), search_minutes: float = 30.0) -> dict:

    from unet_edge.bench.speed import interleaved_ms
    from unet_edge.models.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(run / "best.pt")
    model = model_from_checkpoint(ckpt)
    minutes = sum(h.get("epoch_s", 0) for h in load_checkpoint(run / "last.pt").resume.history) / 60
    val = score(run / "best.pt", "val")
    held = score(holdout_run / "best.pt", "val", "0006R0") if holdout_run else None
    args = ckpt.train_args
    init = ("ImageNet encoder" if args.get("pretrained") else
            f"weights {Path(args['pretrained_weights']).name}" if args.get("pretrained_weights") else "random")
    out = {"model": name, "arch": ckpt.arch, "options": ckpt.model_options, "init": init,
           "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "gflop": conv_flops(model, SIZE),
           "train_minutes": minutes, "train_args": ckpt.train_args, "val_miou": val["miou"],
           "val_iou": val["iou"], "holdout_0006R0_miou": held["miou"] if held else None}
    with tempfile.TemporaryDirectory() as tmp:
        if keep:  # the exports stay beside the checkpoint, for run/bench/eval afterwards
            tmp = run / "export-352x480"
            tmp.mkdir(exist_ok=True)
        out.update(_int8(run, Path(tmp), "cpu", calib_frames, verify_frames, search_minutes))
        # a graph the gate rejected is kept beside (.rejected.onnx): timed too, and marked so
        int8_file = next((f for f in (Path(tmp) / "best.int8-cpu.onnx", Path(tmp) / "best.int8-cpu.rejected.onnx")
                          if f.is_file()), None)
        if int8_file is not None:
            fp32_ms, int8_ms = interleaved_ms(Path(tmp) / "best.onnx", int8_file, _frame(), runs=20)
            out.update(ort_fp32_ms=fp32_ms, ort_int8_ms=int8_ms, int8_speedup=fp32_ms / int8_ms,
                       int8_timed=int8_file.name)
        for target in targets[1:]:
            out["trt"] = _int8(run, Path(tmp), target, calib_frames, verify_frames, search_minutes)
    return out


def _int8(run: Path, out: Path, target: str, calib_frames: int, verify_frames: int, search_minutes: float) -> dict:
    """Export ``run``'s best.pt with one INT8 flavour; what its gate, sidecar and report say."""
    from unet_edge.core.artifact import load_meta
    from unet_edge.core.errors import ExportError
    from unet_edge.export.exporter import ExportOptions, export_model
    from unet_edge.export.int8.stage import int8_path

    t0 = time.monotonic()
    try:
        res = export_model(run / "best.pt", ExportOptions(
            int8=True, int8_target=target, calib=f"camvid:{CAMVID}", calib_frames=calib_frames, size=SIZE,
            int8_search_minutes=search_minutes, out=out, verify_data=f"camvid:{CAMVID}", verify_frames=verify_frames,
            build=False), print)
    except ExportError as exc:  # the search's own report: the best reached and the layers tried
        return {"int8_error": str(exc), "export_s": time.monotonic() - t0}
    int8 = next(r for r in res.verification if r["precision"] == "int8")
    path = int8_path(out, "best", target)
    sidecar, quant = load_meta(path).to_dict(), res.reports[str(path)]["int8"]
    deltas = {k: v for k, v in (int8["class_iou_delta"] or {}).items() if v is not None}
    worst = min(deltas.items(), key=lambda kv: kv[1]) if deltas else (None, None)
    return {"int8_agreement": int8["agreement"], "int8_miou_delta": int8["miou_delta"], "worst_class": worst,
            "float_layers": sidecar.get("float_layers", []), "int8_method": quant["method"],
            "equalized_activations": len(quant.get("equalized_activations") or []),
            "float_macs_share": quant.get("search", {}).get("float_macs_share"),
            "fp32_near_ties": quant.get("search", {}).get("fp32_near_ties"),
            "calibration_frames": quant["calibration_frames"],
            "int8_peak_gb": (quant.get("peak_rss_mb") or {}).get("mb", float("nan")) / 1e3,
            "search_s": quant.get("search", {}).get("seconds"), "export_s": time.monotonic() - t0}


def _ms(r: dict) -> str:
    if "ort_int8_ms" not in r:
        return "-"
    return f"{r['ort_int8_ms']:.1f} ({r['int8_speedup']:.2f}x)" + (" rejected" if "rejected" in r["int8_timed"] else "")


def _int8_cells(x: dict) -> list[str]:
    if "int8_error" in x:
        return ["failed: " + x["int8_error"][:160], "", "", "", "", "", "", ""]
    worst = x["worst_class"]
    return [f"{100 * x['int8_agreement']:.2f}%", f"{100 * x['int8_miou_delta']:+.2f} pts",
            f"{worst[0]} {100 * worst[1]:+.1f} pts" if worst[0] else "-",
            (", ".join(x["float_layers"]) or "none")
            + (f" ({x['equalized_activations']} activations equalised)" if x.get("equalized_activations") else ""),
            "-" if x["float_macs_share"] is None else f"{100 * x['float_macs_share']:.1f}%",
            f"{x['int8_peak_gb']:.2f}", f"{x['search_s']:.0f}" if x.get("search_s") is not None else "-",
            "-" if x.get("fp32_near_ties") is None else f"{100 * x['fp32_near_ties']:.2f}%"]


def _frame():
    import cv2

    from unet_edge.data import open_dataset

    rgb, _ = open_dataset("camvid", CAMVID, "val")[0]
    return cv2.resize(rgb[..., ::-1], (SIZE[1], SIZE[0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR[:HOLDOUT_RUN_DIR]")
    ap.add_argument("--calib-frames", type=int, default=300)
    ap.add_argument("--targets", default="cpu", help="INT8 flavours, cpu first: cpu or cpu,tensorrt")
    ap.add_argument("--verify-frames", type=int, default=101)
    ap.add_argument("--out", default="model_table")
    ap.add_argument("--search-minutes", type=float, default=30.0, help="each INT8 export's float-layer search budget")
    ap.add_argument("--keep", action="store_true", help="keep the exports in RUN/export-352x480/")
    ap.add_argument("--latency-vs", type=Path, default=None,
                    help="a checkpoint (e.g. unet-lite) whose ORT FP32 latency the first model's is compared with, "
                         "interleaved in this run")
    args = ap.parse_args()
    rows = []
    for spec in args.run:
        name, dirs = spec.split("=", 1)
        run, _, held = dirs.partition(":")
        rows.append(row(name, Path(run), Path(held) if held else None, args.calib_frames, args.verify_frames,
                        args.keep, tuple(args.targets.split(",")), args.search_minutes))
        print(rows[-1])
    classes = ("Pole", "SignSymbol", "Pedestrian")
    print(table(["model", "init", "params", "GFLOP 352x480", "train min", "val mIoU", "0006R0 mIoU (held out)",
                 *[f"{c} IoU" for c in classes], "ORT FP32 ms", "ORT INT8 ms"],
                [[r["model"], r["init"], f"{r['params_m']:.2f} M", f"{r['gflop']:.1f}", f"{r['train_minutes']:.0f}",
                  f"{r['val_miou']:.3f}",
                  "-" if r["holdout_0006R0_miou"] is None else f"{r['holdout_0006R0_miou']:.3f}",
                  *[f"{r['val_iou'][c]:.3f}" for c in classes],
                  f"{r['ort_fp32_ms']:.1f}" if "ort_fp32_ms" in r else "-", _ms(r)] for r in rows]))
    print()
    print(table(["model", "INT8 flavour", "agreement", "mIoU change", "worst class change", "float layers",
                 "float MACs", "INT8 stage peak GB", "search s", "FP32 near-ties"],
                [[r["model"], flavour, *_int8_cells(x)] for r in rows
                 for flavour, x in (("cpu", r), ("tensorrt", r.get("trt"))) if x is not None]))
    ratio = None
    if args.latency_vs:
        from unet_edge.bench.speed import interleaved_ms
        from unet_edge.export.exporter import ExportOptions, export_model

        first = Path(args.run[0].split("=", 1)[1].partition(":")[0]) / "export-352x480" / "best.onnx"
        with tempfile.TemporaryDirectory() as tmp:
            export_model(args.latency_vs, ExportOptions(size=SIZE, out=Path(tmp), verify=False, build=False),
                              print)
            other = next(Path(tmp).glob("*.onnx"))
            mine_ms, other_ms = interleaved_ms(first, other, _frame(), runs=20)
        ratio = {"model_ms": mine_ms, "other": str(args.latency_vs), "other_ms": other_ms, "ratio": mine_ms / other_ms}
        print(f"ORT FP32 at 352x480: {mine_ms:.1f} ms vs {other_ms:.1f} ms for {args.latency_vs} "
              f"({mine_ms / other_ms:.2f}x)")
    save(args.out, {"rows": rows, "size": list(SIZE), "latency_vs": ratio})


if __name__ == "__main__":
    main()
