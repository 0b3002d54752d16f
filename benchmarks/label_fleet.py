"""`unet-edge label` on Ray Data: its speed against `run --save-masks` over the same clips one after another,
its peak memory over 10 and 40 clips, a real two-node Ray cluster on this machine, and the per-frame costs
that size a cluster on paper.

    .venv/bin/python benchmarks/label_fleet.py                       # the shipped camvid-lite0, about 15 min
    .venv/bin/python benchmarks/label_fleet.py --parts cluster --frames 60  # some parts only

Clips are 360x480 MP4s of moving shapes (their content does not change the speed). Every command runs as a
user runs it, in a subprocess; its memory is the PSS of its whole process tree (the driver, the local Ray's
own processes and its workers), sampled every 0.2 s. Each command is also run over one clip of one frame: its
fixed cost (Ray's start and stop, actors and model load; `run`'s per clip), taken out of "fps after fixed".
The cluster is two `ray start` nodes of one CPU each, each in its own temporary folder, started and stopped
here (by their process group; nothing else is stopped).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from _common import save, table
from _ray_cluster import free_port, node_names, start_node, stop_node, wait_nodes

CLI = [sys.executable, "-m", "unet_edge"]
SIZE = (360, 480)


def write_clips(folder: Path, n: int, frames: int) -> list[Path]:
    """``n`` clips of ``frames`` frames: a road-like gradient with boxes moving at each clip's own speed."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = SIZE
    base = np.dstack([np.tile(np.linspace(40, 220, w, dtype=np.uint8), (h, 1))] * 3)
    base[h // 2:] = (90, 90, 95)
    paths = []
    for c in range(n):
        path = folder / f"drive_{c:03d}.mp4"
        out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
        for i in range(frames):
            img = base.copy()
            x = (i * (4 + c % 5) + 37 * c) % (w - 80)
            cv2.rectangle(img, (x, h // 2 - 40), (x + 80, h // 2 + 30), (30, 30, 200), -1)
            cv2.circle(img, ((x * 3) % w, h // 4), 25, (200, 160, 40), -1)
            out.write(img)
        out.release()
        paths.append(path)
    return paths


def tree_pss(pid: int) -> dict[str, tuple[int, float]]:
    """PSS of ``pid`` and its descendants (shared pages counted once across them) by process name: (count, MB)."""
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out: dict[str, tuple[int, float]] = {}
    for p in procs:
        try:
            name, mb = p.name(), p.memory_full_info().pss / 1e6
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        n, total = out.get(name, (0, 0.0))
        out[name] = (n + 1, total + mb)
    return out


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; its wall time, output and the peak PSS of its process tree (with that moment's processes)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak: list = [0.0, {}]

    def sample() -> None:
        while proc.poll() is None:
            now = tree_pss(proc.pid)
            total = sum(mb for _, mb in now.values())
            if total > peak[0]:
                peak[:] = [total, {k: [n, round(mb, 1)] for k, (n, mb) in sorted(now.items())}]
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_pss_mb": round(peak[0], 1), "peak_processes": peak[1], "stdout": out,
            "stderr": err}


def label(model: str, source: Path, out: Path, workers: int, address: str | None = None,
          env: dict | None = None) -> dict:
    cmd = [*CLI, "label", "--model", model, "--source", str(source), "--out", str(out), "--workers", str(workers)]
    res = timed(cmd + (["--ray-address", address] if address else []), env)
    res["frames"] = int(re.search(r"; (\d+) frames in", res["stdout"]).group(1))
    res["fps"] = round(res["frames"] / res["wall_s"], 2)
    res["actors"] = dict(re.findall(r"actor (\S+) \(node:pid\) inferred (\d+) frames", res["stdout"]))
    return {k: v for k, v in res.items() if k not in ("stdout", "stderr")}


def run_each(model: str, clips: list[Path], out: Path, threads: int) -> dict:
    """`run --save-masks` over each clip, one after another."""
    walls, frames, peak = 0.0, 0, 0.0
    for clip in clips:
        res = timed([*CLI, "run", "--model", model, "--source", str(clip), "--save-masks", str(out / clip.name),
                     "--threads", str(threads), "--no-hud"])
        walls, peak = walls + res["wall_s"], max(peak, res["peak_pss_mb"])
        frames += int(re.search(r"frames (\d+)\s+FPS", res["stdout"]).group(1))
    return {"wall_s": round(walls, 2), "frames": frames, "fps": round(frames / walls, 2), "peak_pss_mb": peak}


def per_frame(full: dict, fixed: dict, clips: int = 1, fixed_clips: int = 1) -> float:
    """Frames per second once the fixed cost (the same command over one 1-frame clip) is taken out."""
    busy = full["wall_s"] - fixed["wall_s"] * clips / fixed_clips
    return round((full["frames"] - fixed["frames"] * clips / fixed_clips) / busy, 2)


def same_outputs(a: Path, b: Path) -> bool:
    """Every file but the summary byte-identical."""
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.name != "summary.parquet"}
    return files(a) == files(b)


def part_speed(model: str, work: Path, n: int, frames: int, rounds: int) -> dict:
    """Rounds of run-each, label with 1 and 2 workers, interleaved (the box is shared); the medians."""
    cores = os.cpu_count() or 1
    clips = write_clips(work / "speed", n, frames)
    one = write_clips(work / "one", 1, 1)
    res: dict = {"clips": n, "frames_per_clip": frames, "threads": cores, "rounds": []}
    for r in range(rounds):
        row = {"run_each": run_each(model, clips, work / f"run_out{r}", cores),
               "run_fixed": run_each(model, one, work / f"run_one{r}", cores)}
        for w in (1, 2):
            row[f"label_w{w}"] = label(model, work / "speed", work / f"label_w{w}_{r}", w)
            row[f"label_w{w}_fixed"] = label(model, work / "one", work / f"label_one_w{w}_{r}", w)
        res["rounds"].append(row)
        print(f"round {r}: " + ", ".join(f"{k} {v['wall_s']} s" for k, v in row.items()), flush=True)
    res["same_outputs_w1_w2"] = same_outputs(work / "label_w1_0", work / "label_w2_0")
    med = {}
    for key in ("run_each", "label_w1", "label_w2"):
        fixed = "run_fixed" if key == "run_each" else f"{key}_fixed"
        walls = [r[key]["wall_s"] for r in res["rounds"]]
        rates = [per_frame(r[key], r[fixed], n if key == "run_each" else 1) for r in res["rounds"]]
        med[key] = {"wall_s": float(np.median(walls)), "fps": round(n * frames / float(np.median(walls)), 2),
                    "fixed_s": float(np.median([r[fixed]["wall_s"] for r in res["rounds"]])),
                    "fps_after_fixed": float(np.median(rates)),
                    "peak_pss_mb": float(np.median([r[key]["peak_pss_mb"] for r in res["rounds"]]))}
    for w in (1, 2):
        med[f"label_w{w}"]["vs_run"] = round(med[f"label_w{w}"]["fps"] / med["run_each"]["fps"], 2)
        med[f"label_w{w}"]["vs_run_after_fixed"] = round(med[f"label_w{w}"]["fps_after_fixed"] /
                                                         med["run_each"]["fps_after_fixed"], 2)
    res["median"] = med
    return res


def part_memory(model: str, work: Path, frames: int) -> dict:
    res = {}
    for n in (10, 40):
        write_clips(work / f"mem{n}", n, frames)
        res[f"clips_{n}"] = label(model, work / f"mem{n}", work / f"mem{n}_out", 1)
    return res


def part_cluster(model: str, work: Path, n: int, frames: int) -> dict:
    """One node of one CPU, then two; each config also over a 1-frame clip for its fixed cost."""
    write_clips(work / "cluster", n, frames)
    write_clips(work / "one_c", 1, 1)
    env = dict(os.environ, RAY_AUTH_MODE="token")  # ray start's clusters ask for the token (~/.ray/auth_token)
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = free_port()
    address = f"127.0.0.1:{port}"
    temps = {"head": root / "head", "second": root / "second"}
    nodes = [start_node(["--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard=false"],
                        temps["head"], env)]
    res: dict = {}
    try:
        wait_nodes(address, 1, env)
        for key, workers in (("one_node_w1", 1), ("two_nodes_w2", 2)):
            if workers == 2:
                nodes.append(start_node(["--address", address, "--num-cpus", "1"], temps["second"], env))
                wait_nodes(address, 2, env)
            fixed = label(model, work / "one_c", work / f"cluster_fixed_{workers}", workers, address, env)
            res[key] = label(model, work / "cluster", work / f"cluster_{workers}", workers, address, env)
            res[key]["fixed_s"] = fixed["wall_s"]
            res[key]["fps_after_fixed"] = per_frame(res[key], fixed)
        names = node_names(address, temps, env)
        for key in ("one_node_w1", "two_nodes_w2"):
            res[key]["actors_by_node"] = {f"{names.get(a.split(':')[0], '?')} ({a})": int(f)
                                          for a, f in res[key].pop("actors").items()}
    finally:
        for node in reversed(nodes):
            stop_node(node)
        shutil.rmtree(root, ignore_errors=True)
    res["local_w2"] = label(model, work / "cluster", work / "cluster_local", 2)
    res["same_outputs_two_nodes_vs_local"] = same_outputs(work / "cluster_2", work / "cluster_local")
    res["same_outputs_one_vs_two_nodes"] = same_outputs(work / "cluster_1", work / "cluster_2")
    res["speedup_two_nodes"] = round(res["two_nodes_w2"]["fps_after_fixed"] / res["one_node_w1"]["fps_after_fixed"],
                                     2)
    return res


def part_costs(model: str, work: Path) -> dict:
    """Milliseconds per frame of each stage, in this process (no Ray): what sizes a cluster on paper."""
    from unet_edge.core.shipped import resolve_model
    from unet_edge.fleet.decode import decode_job
    from unet_edge.fleet.sources import Job
    from unet_edge.fleet.summary import VideoTally
    from unet_edge.fleet.write import write_batch
    from unet_edge.runtime.frame import to_model_size
    from unet_edge.runtime.runners import open_runner

    (clip,) = write_clips(work / "costs", 1, 30)
    t0 = time.perf_counter()
    batches = [b for b in decode_job("c", "video", str(clip), [], 1, 8) if not b["last"][0]]
    decode = 1e3 * (time.perf_counter() - t0) / 30
    costs = {"decode_ms": round(decode, 2)}
    images = [im for b in batches for im in b["image"]]
    runners = {t: open_runner(resolve_model(model), "cpu", t) for t in (1, 2)}
    took: dict[int, list[float]] = {1: [], 2: []}
    for r in runners.values():
        r.activate()
        size = r.fit_to(images[0].shape[:2])
        r.infer(to_model_size(images[0], size))  # warm-up
    for im in images[:20]:  # the two alternate, frame by frame: the box is shared
        for t, r in runners.items():
            t0 = time.perf_counter()
            masks_t = r.infer(to_model_size(im, size))
            took[t].append(1e3 * (time.perf_counter() - t0))
    for t, r in runners.items():
        costs[f"infer_ms_{t}_threads"] = round(float(np.median(took[t])), 1)
        r.deactivate()
    classes, palette = runners[1].classes, runners[1].palette
    masks = [masks_t] * 10
    rows = {"video": np.array(["c"] * 10), "index": np.arange(10), "name": np.array([f"0_{i:08d}" for i in range(10)]),
            "source_ms": np.zeros(10), "last": np.zeros(10, bool), "frames": np.zeros(10, np.int64),
            "failure": np.array([""] * 10), "t_start": np.zeros(10), "actor": np.array(["a"] * 10),
            "mask": np.stack(masks), "h": np.full(10, SIZE[0]), "w": np.full(10, SIZE[1])}
    t0 = time.perf_counter()
    back = write_batch(rows, str(work / "costs_out"), classes, palette)
    costs["write_ms"] = round(1e3 * (time.perf_counter() - t0) / 10, 2)
    tally = VideoTally(Job("c", str(clip), "video"), len(classes))
    t0 = time.perf_counter()
    for k in range(1000):
        tally.add(k, back["line"][k % 10], back["counts"][k % 10], int(back["pixels"][k % 10]), "a", 0.0)
    costs["driver_ms"] = round(1e3 * (time.perf_counter() - t0) / 1000, 4)
    return costs


def paper(costs: dict) -> dict:
    """What a node does, from the per-frame costs: 1-thread CPU actors, one a core, with decode and write beside
    them; on GPUs the CPU feeds decode, resize and write (t_gpu: the model's ms a frame on that GPU, not
    measured here)."""
    feed = costs["decode_ms"] + costs["write_ms"]
    return {"cpu_node_fps_per_core": round(1e3 / (costs["infer_ms_1_threads"] + feed), 2),
            "cpu_feed_fps_per_core": round(1e3 / feed, 1),  # what one core decodes and writes for GPUs
            "driver_fps_ceiling": round(1e3 / costs["driver_ms"]),
            "gpu_node_fps": "min(N_gpus * 1000 / t_gpu_ms, cores * cpu_feed_fps_per_core)",
            "n_nodes_fps": "N * node_fps, until driver_fps_ceiling"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="camvid-lite0")
    ap.add_argument("--parts", nargs="+", default=["costs", "speed", "memory", "cluster"])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="label-fleet-"))
    results: dict = {"model": args.model, "size": list(SIZE)}
    for part in args.parts:
        print(f"{part} ...", flush=True)
        if part == "costs":
            results["costs"] = part_costs(args.model, work)
            results["paper"] = paper(results["costs"])
        elif part == "speed":
            results["speed"] = part_speed(args.model, work, args.clips, args.frames, args.rounds)
        elif part == "memory":
            results["memory"] = part_memory(args.model, work, 12)
        elif part == "cluster":
            results["cluster"] = part_cluster(args.model, work, 4, args.frames)
        print(results[part], flush=True)
    if "speed" in results:
        m = results["speed"]["median"]
        print(table(["command", "wall s", "fps", "fixed s", "fps after fixed", "peak PSS MB"],
                    [[k, m[k]["wall_s"], m[k]["fps"], m[k]["fixed_s"], m[k]["fps_after_fixed"], m[k]["peak_pss_mb"]]
                     for k in ("run_each", "label_w1", "label_w2")]))
    save("label_fleet" if len(args.parts) == 4 else "label_fleet_" + "_".join(args.parts), results)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
