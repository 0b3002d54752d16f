"""Bench outputs: rich tables on the console, JSON with the system, a latency/mIoU PNG."""

from __future__ import annotations

from pathlib import Path

from unet_edge.core.io import atomic_path, write_json_atomic


def _f(v, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _load(row: dict) -> str:
    """The activation's ms, and OpenVINO's uncached compile (a first run's cost) where this load was cached."""
    load, first = row.get("load_ms"), row.get("first_run_ms")
    if first is not None and load is not None and abs(first - load) > 0.5:
        return f"{load:.0f} (first {first:.0f})"
    return _f(load, "{:.0f}")


def tables(result: dict):
    """(main table, per-stage table, stream table or None) as rich Tables."""
    from rich.markup import escape
    from rich.table import Table

    main = Table(title=f"unet-edge bench: {result['model']}  (batch {result['batch']}, {result['threads']} CPU "
                       f"threads for every CPU backend, frames: {result['frames']})")
    for col in ("Backend", "Precision", "Status", "Size MB", "Agree %", "mIoU", "load ms", "mean", "p50", "p90",
                "p99 ms", "FPS"):
        main.add_column(col, justify="left" if col in ("Backend", "Precision", "Status") else "right")
    stages = Table(title="per-stage breakdown, median ms (transfers are n/a on CPU backends)")
    for col in ("Backend", "resize", "H2D", "compute", "D2H", "render"):
        stages.add_column(col, justify="left" if col == "Backend" else "right")
    stream = None
    if any(r.get("stream") for r in result["rows"]):
        stream = Table(title="runtime pipeline on the video vs the runner alone")
        for col in ("Backend", "runner FPS", "stream FPS", "overhead", "live p50 ms", "live p99 ms", "dropped"):
            stream.add_column(col, justify="left" if col == "Backend" else "right")
    for r in result["rows"]:
        t = r.get("timing") or {}
        status = escape(r["status"] + (f": {r['reason']}" if r["reason"] else ""))
        main.add_row(r["backend"], r["precision"], status, _f(r["size_mb"], "{:.1f}"),
                     _f(None if r.get("agreement") is None else 100 * r["agreement"]), _f(r["miou"], "{:.4f}"),
                     _load(r), _f(t.get("mean")), _f(t.get("p50")), _f(t.get("p90")), _f(t.get("p99")),
                     _f(t.get("fps"), "{:.1f}"))
        if t:
            s = t["stages"]
            stages.add_row(r["backend"], _f(s.get("resize_ms")), _f(s.get("h2d_ms")) if s.get("h2d_ms") else "n/a",
                           _f(s.get("compute_ms")), _f(s.get("d2h_ms")) if s.get("d2h_ms") else "n/a",
                           _f(s.get("render_ms")))
        if stream is not None and r.get("stream"):
            f, live = r["stream"]["file"], r["stream"]["live"]
            stream.add_row(r["backend"], _f(t.get("fps"), "{:.1f}"), _f(f["fps"], "{:.1f}"),
                           f"{100 * (1 - f['fps'] / t['fps']):+.1f}%" if t.get("fps") else "-",
                           _f(live["latency_p50"], "{:.1f}"), _f(live["latency_p99"], "{:.1f}"), str(live["dropped"]))
    return main, stages, stream


def print_tables(result: dict) -> None:
    from rich.console import Console

    console = Console(width=160)
    for table in tables(result):
        if table is not None:
            console.print(table)
    for r in result["rows"]:
        for note in r.get("notes") or []:
            console.print(f"{r['backend']}: {note}", markup=False)


def write_json(result: dict, dest: Path) -> None:
    write_json_atomic(dest, result)


def plot(result: dict, dest: Path) -> Path:
    """Bars of p50 latency with p50-p99 whiskers per backend; mIoU on a second axis when known."""
    from unet_edge.core.lazy import require

    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r.get("timing")]
    names = [r["backend"] for r in rows]
    p50 = [r["timing"]["p50"] for r in rows]
    up = [r["timing"]["p99"] - r["timing"]["p50"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows) + 2), 4), dpi=110)
    ax.bar(names, p50, yerr=[[0] * len(rows), up], capsize=4, color="tab:blue", alpha=0.8, label="latency p50 (p99)")
    ax.set_ylabel("latency ms (p50, whisker to p99)")
    ax.set_title(f"{Path(result['model']).name}: latency per backend")
    ax.tick_params(axis="x", rotation=20)
    mious = [r["miou"] for r in rows]
    if any(m is not None for m in mious):
        ax2 = ax.twinx()
        ax2.plot(names, [m if m is not None else float("nan") for m in mious], "o", color="tab:red", label="mIoU")
        ax2.set_ylabel("mIoU", color="tab:red")
        ax2.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return dest
