"""What machine is this: CPU, GPU, Jetson, package versions, git revision. No heavy imports."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("torch", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "opencv-python",
            "opencv-python-headless", "numpy", "cuda-python", "unet-edge")


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux /proc; the peak where /proc is absent)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return _lifetime_peak_mb()


class PeakRss:
    """Peak resident memory of this process within a ``with`` block, in MB (``.mb``).

    Linux resets the high-water mark on entry (``/proc/self/clear_refs``), so the figure is the block's
    own peak; elsewhere it is the process's lifetime peak, an upper bound (``.scoped`` is False).
    A thread also samples resident memory every ``interval`` s: some kernels only raise the
    high-water mark at certain events, so memory freed within the block can be missed without it."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.mb = 0.0
        self.scoped = False

    def __enter__(self) -> PeakRss:
        import threading

        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.scoped = True
        except OSError:
            self.scoped = False
        self._sampled = rss_mb() if self.scoped else 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        if self.scoped:
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sampled = max(self._sampled, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.mb = max(_peak_mb(), self._sampled, rss_mb() if self.scoped else 0.0)


def _peak_mb() -> float:
    try:
        m = re.search(r"VmHWM:\s+(\d+)\s*kB", Path("/proc/self/status").read_text())
        if m:
            return int(m.group(1)) * 1024 / 1e6
    except OSError:
        pass
    return _lifetime_peak_mb()


def _lifetime_peak_mb() -> float:
    """The process's peak resident memory since it started (getrusage: bytes on macOS, kB elsewhere)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e6 if platform.system() == "Darwin" else 1e3)


def cpu() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": model, "cores": usable_cores(), "machine": platform.machine()}


def gpus() -> list[dict]:
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"])
    rows = []
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4:
            rows.append({"name": parts[0], "driver": parts[1], "memory": parts[2], "compute_capability": parts[3]})
    return rows


def l4t_release(path: str | Path = "/etc/nv_tegra_release") -> str | None:
    """The Jetson L4T release ('36.4.0'), or None off Jetson."""
    try:
        head = Path(path).read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", head)
    return f"{m.group(1)}.{m.group(2)}" if m else None


JETPACK = {"35": "5.1", "36": "6", "38": "7"}  # L4T major -> JetPack major.minor


def jetson() -> dict | None:
    """Jetson model, L4T/JetPack release, nvpmodel mode, jetson_clocks state; None elsewhere."""
    try:
        model = Path("/proc/device-tree/model").read_text().strip("\x00\n ")
    except OSError:
        model = None
    l4t = l4t_release()
    if not model and not l4t:
        return None
    nvp = _run(["nvpmodel", "-q"])
    clocks = _run(["jetson_clocks", "--show"])
    return {"model": model, "l4t": l4t, "jetpack": JETPACK.get((l4t or "").split(".")[0]),
            "nvpmodel": (nvp.splitlines()[0].replace("NV Power Mode:", "").strip() if nvp else None),
            "jetson_clocks": None if clocks is None else ("on" if re.search(r"MinFreq=(\d+).*MaxFreq=\1", clocks)
                                                          else "off or partial")}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def git_revision() -> str | None:
    here = Path(__file__).resolve().parent.parent
    return _run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"])


def system() -> dict:
    """Everything above, for --json outputs."""
    return {"platform": platform.platform(), "cpu": cpu(), "gpus": gpus(), "jetson": jetson(),
            "versions": versions(), "git": git_revision()}
