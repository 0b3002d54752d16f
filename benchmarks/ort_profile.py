"""Where ONNX Runtime spends its time on the CPU: milliseconds per op type, and GFLOP/s of the
convolutions against this machine's FP32 GEMM peak.

    python benchmarks/ort_profile.py EXPORT/best.onnx [EXPORT/best.int8.onnx ...]

Uses ONNX Runtime's own profiler, with the runtime runner's session options and thread count.
Conv FLOPs are counted from the exported graph (2 x MACs per output, or per input for
ConvTranspose); op names are those after ONNX Runtime's graph optimisations (QLinearConv is INT8).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

from _common import save, table
from gflops import gemm_peak


def conv_gflop(path: Path) -> float:
    """FP32-equivalent GFLOP of every Conv/ConvTranspose in the ONNX file.

    Output sizes are read by running the model once with every conv output exposed: shape
    inference cannot resolve the computed pads of the exporter's Pad nodes."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    weights = {t.name: numpy_helper.to_array(t).shape for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    convs = [n for n in g.node if n.op_type in ("Conv", "ConvTranspose")]
    del g.output[:]
    g.output.extend(onnx.helper.make_empty_tensor_value_info(n.output[0]) for n in convs)
    for n in convs:
        if n.op_type == "ConvTranspose":
            g.output.append(onnx.helper.make_empty_tensor_value_info(n.input[0]))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    frame = np.zeros([d if isinstance(d, int) else 1 for d in inp.shape], np.uint8)
    shapes = {o.name: v.shape for o, v in zip(sess.get_outputs(), sess.run(None, {inp.name: frame}))}
    total = 0.0
    for n in convs:
        w = n.input[1]
        while w not in weights and w in producer:  # QDQ: weight -> DequantizeLinear -> Conv
            w = producer[w].input[0]
        spatial = shapes[n.output[0]] if n.op_type == "Conv" else shapes[n.input[0]]
        total += 2 * float(np.prod(weights[w])) * spatial[2] * spatial[3]
    return total / 1e9


def profile(path: Path, iters: int, threads: int) -> tuple[float, dict[str, float]]:
    """(mean ms per run, ms per op type per run), with the session options of the runtime's runner."""
    import time

    import numpy as np
    import onnxruntime as ort

    from unet_edge.runtime.runners.onnxruntime import session_options

    with tempfile.TemporaryDirectory() as tmp:
        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        for _ in range(3):
            sess.run(None, {inp.name: frame})
        t0 = time.perf_counter()
        for _ in range(iters):
            sess.run(None, {inp.name: frame})
        mean_ms = (time.perf_counter() - t0) / iters * 1e3
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / (iters + 3)
    return mean_ms, dict(per_op)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    from unet_edge.runtime.runners.onnxruntime import cpu_threads

    threads = cpu_threads()
    peak = gemm_peak(threads)
    results, rows = {}, []
    for path in args.models:
        gflop = conv_gflop(path)
        mean_ms, per_op = profile(path, args.iters, threads)
        conv_ms = sum(v for k, v in per_op.items() if "Conv" in k)
        results[str(path)] = {"mean_ms": mean_ms, "per_op_ms": per_op, "conv_gflop": gflop, "conv_ms": conv_ms}
        top = sorted(per_op.items(), key=lambda kv: -kv[1])[:5]
        rows.append([path.name, f"{mean_ms:.1f}", f"{gflop:.2f}", f"{conv_ms:.1f}",
                     f"{gflop / conv_ms * 1e3:.0f}", ", ".join(f"{k} {v:.1f}" for k, v in top)])
    print(table(["model", "mean ms", "conv GFLOP", "conv ms", "conv GFLOP/s", "top op types (ms)"], rows))
    print(f"FP32 GEMM peak with {threads} threads: {peak:.0f} GFLOP/s (INT8 convs count FP32-equivalent FLOPs)")
    save("ort_profile", {"threads": threads, "gemm_peak_gflops": peak, "models": results})


if __name__ == "__main__":
    main()
