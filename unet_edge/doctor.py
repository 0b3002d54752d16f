"""``unet-edge doctor``: can this box do the job, and what to install or change if not."""

from __future__ import annotations

import configparser
import functools
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from unet_edge.core import sysinfo
from unet_edge.core.errors import BrokenInstallError
from unet_edge.core.lazy import installed
from unet_edge.core.opencv import import_cv2, opencv_numpy


@dataclass
class Check:
    name: str
    status: str  # ok | warn | missing | info
    detail: str
    fix: str = ""


def _needs(module: str, absent: Check) -> Callable[[Callable[..., Check]], Callable[..., Check]]:
    """A check that runs only where ``module`` is installed; elsewhere its line is ``absent`` (what is
    missing and the install line), so the check's body speaks of the installed package alone."""

    def wrap(check: Callable[..., Check]) -> Callable[..., Check]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Check:
            return check(*args, **kwargs) if installed(module) else replace(absent)  # each call its own line

        return run

    return wrap


def checks() -> list[Check]:
    out: list[Check] = []
    vers = sysinfo.versions()
    cpu = sysinfo.cpu()
    new_enough = tuple(map(int, vers["python"].split(".")[:2])) >= (3, 10)
    out.append(Check("python", "ok" if new_enough else "missing",
                     f"Python {vers['python']} on {cpu['machine']} ({cpu['model']}, {cpu['cores']} cores)",
                     "" if new_enough else "install Python >= 3.10 (JetPack 6 ships 3.10)"))
    jet = sysinfo.jetson()
    if jet:
        out.append(Check("jetson", "ok", f"{jet['model']}, L4T {jet['l4t']} (JetPack {jet['jetpack'] or '?'})"))
        out.append(Check("power", "ok" if jet["nvpmodel"] else "warn", f"nvpmodel {jet['nvpmodel'] or 'unknown'}, "
                         f"jetson_clocks {jet['jetson_clocks'] or 'unknown (needs sudo)'}",
                         "sudo nvpmodel -m 0 && sudo jetson_clocks  # max performance before benchmarking"))
    gpus = sysinfo.gpus()
    cuda_fix = "install the NVIDIA driver + CUDA (JetPack on Jetson); check with nvidia-smi"
    if gpus:
        g = gpus[0]
        out.append(Check("gpu", "ok", f"{g['name']} (sm_{g['compute_capability'].replace('.', '')}), driver "
                         f"{g['driver']}, {g['memory']}"))
    elif jet:
        out.append(Check("gpu", "ok", "integrated Jetson GPU (nvidia-smi reports none on Jetson)"))
    else:
        out.append(Check("gpu", "info", "no NVIDIA GPU found: CPU inference with ONNX Runtime only", cuda_fix))
    out.append(_tensorrt(vers, bool(gpus or jet)))
    out.append(_onnxruntime(vers))
    out.append(_openvino())
    out.append(_opencv())
    if out[-1].status != "missing":  # a cv2 that does not import has said it already
        out.append(_numpy())
    vids = sorted(str(p) for p in Path("/dev").glob("video*"))
    out.append(Check("cameras", "ok" if vids else "info", ", ".join(vids) or "no /dev/video* devices",
                     "" if vids else "plug in a USB/CSI camera, or use a video file / rtsp:// source"))
    cache = Path.home() / ".cache"
    free = shutil.disk_usage(cache if cache.exists() else Path.home()).free / 1e9
    out.append(Check("disk", "ok" if free > 2 else "warn", f"{free:.1f} GB free for engines and caches in {cache}",
                     "" if free > 2 else "free disk space: engine builds need ~1-2 GB"))
    out.append(_serving())
    out.append(_rtsp_out())
    has_nncf = installed("nncf")
    out.append(Check("int8 openvino", "ok" if has_nncf else "info",
                     "nncf: export --int8 --int8-target openvino (NNCF, OpenVINO's quantizer)" if has_nncf else
                     "no nncf: export --int8-target openvino needs it", "" if has_nncf else
                     "pip install 'unet-edge[nncf]'"))
    ros = installed("rosbags")
    out.append(Check("ros2 bags", "ok" if ros else "info",
                     "rosbags: ROS 2 bags in (--source BAG) and out (--save-bag), no ROS installation needed" if ros
                     else "rosbags not installed: no --source BAG or --save-bag",
                     "" if ros else "pip install 'unet-edge[ros]'"))
    out.append(_fleet())
    out.append(Check("torch", "ok" if installed("torch") else "info",
                     f"PyTorch {vers.get('torch', 'not installed')} (training and export only)",
                     "" if installed("torch") else "pip install 'unet-edge[train]'  # not needed to run models"))
    return out


def _fleet() -> Check:
    """Can ``unet-edge label`` run here: Ray Data, PyAV and pyarrow (the fleet extra), read without importing Ray."""
    from importlib.metadata import version

    absent = [m for m in ("ray", "av", "pyarrow") if not installed(m)]
    if absent:
        return Check("fleet", "info", f"{', '.join(absent)} not installed: no unet-edge label",
                     "pip install 'unet-edge[fleet]'  # Ray Data, PyAV and pyarrow")
    return Check("fleet", "ok", f"unet-edge label on Ray {version('ray')} (Ray Data), PyAV {version('av')}, "
                 f"pyarrow {version('pyarrow')}")


def _rtsp_out() -> Check:
    """Can ``run --save rtsp://`` serve from this Python (the system's GStreamer through PyGObject)?"""
    from unet_edge.core.errors import SinkError
    from unet_edge.runtime.network_out import INSTALL, encoder_name, load_gst

    try:
        gst = load_gst()[0]
    except SinkError:
        return Check("rtsp out", "info", "no PyGObject/GstRtspServer in this Python: no --save rtsp:// or rtp://",
                     INSTALL.split(" need ", 1)[1])
    name = encoder_name(gst)
    if name is None:
        return Check("rtsp out", "warn", f"GStreamer {gst.version_string()} has no H.264 encoder",
                     "apt-get install gstreamer1.0-plugins-ugly  # x264enc")
    return Check("rtsp out", "ok", f"--save rtsp:// and rtp:// through {gst.version_string()}, encoder {name}")


def _tensorrt(vers: dict, gpu: bool) -> Check:
    if not installed("tensorrt"):
        fix = ("sudo apt install python3-libnvinfer  # JetPack's TensorRT" if sysinfo.jetson()
               else "pip install 'unet-edge[trt]'")
        return Check("tensorrt", "missing" if gpu else "info", "TensorRT not installed: no engines here; ONNX "
                     "Runtime runs the .onnx", fix)
    detail = f"TensorRT {vers.get('tensorrt', '?')}"
    try:
        import tensorrt as trt

        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
        fp16 = getattr(builder, "platform_has_fast_fp16", None)
        int8 = getattr(builder, "platform_has_fast_int8", None)
        detail += f"; fast FP16: {fp16}, fast INT8: {int8}" if fp16 is not None else "; strongly typed (FP16 via graph)"
        detail += f"; DLA cores: {builder.num_DLA_cores}"
    except Exception as exc:  # a broken install or no device
        return Check("tensorrt", "warn", f"{detail} imports but cannot create a builder: {exc}",
                     "check the CUDA driver (nvidia-smi) and that TensorRT matches it")
    return Check("tensorrt", "ok", detail)


@_needs("pytriton", Check("serve", "info", "nvidia-pytriton not installed: no `unet-edge serve`",
                          "pip install 'unet-edge[serve]'  # Triton Inference Server for HTTP/gRPC clients"))
def _serving() -> Check:
    """Can `unet-edge serve` start Triton's Python backend with this interpreter?"""
    from unet_edge.serving.triton import python_libdir

    libdir, why = python_libdir()
    if why:
        return Check("serve", "warn", f"Triton's Python backend cannot load this Python: {why}",
                     "use a Python built with --enable-shared (Debian's, or pyenv with PYTHON_CONFIGURE_OPTS="
                     "--enable-shared)")
    return Check("serve", "ok", f"Triton via PyTriton; the Python backend loads libpython from {libdir}")


@_needs("onnxruntime", Check("onnxruntime", "missing", "ONNX Runtime not installed",
                             "pip install 'unet-edge[cpu]'  (or [gpu] for CUDA/TensorRT providers)"))
def _onnxruntime(vers: dict) -> Check:
    import onnxruntime as ort

    from unet_edge.runtime.runners.int8_probe import int8_kernels_saturate

    int8 = ("INT8 kernels saturate 8-bit weights (no VNNI): exports here use 7-bit weights"
            if int8_kernels_saturate() else "INT8 kernels exact with 8-bit weights")
    return Check("onnxruntime", "ok", f"ONNX Runtime {ort.__version__}; providers: "
                 f"{', '.join(ort.get_available_providers())}; {int8}")


@_needs("openvino", Check("openvino", "info", "OpenVINO not installed: no --provider openvino (Intel CPUs, GPUs, "
                          "NPUs)", "pip install 'unet-edge[openvino]'"))
def _openvino() -> Check:
    """OpenVINO's version, the devices it reports and whether this CPU computes in bf16."""
    try:
        import openvino

        from unet_edge.runtime.runners.openvino import available_devices, supports_bf16

        devices = available_devices()
        bf16 = "CPU" in devices and supports_bf16("CPU")
    except Exception as exc:  # a broken install or plugin
        return Check("openvino", "warn", f"OpenVINO imports but reports no devices: {str(exc).splitlines()[0][:120]}",
                     "reinstall it: pip install --force-reinstall 'unet-edge[openvino]'")
    return Check("openvino", "ok", f"OpenVINO {openvino.get_version().split('-')[0]}; devices: "
                 f"{', '.join(devices) or 'none'}; CPU bf16: {'yes (--precision bf16)' if bf16 else 'no'}")


@_needs("cv2", Check("opencv", "missing", "OpenCV not installed",
                     "pip install 'unet-edge[opencv]'  (on Jetson use JetPack's: sudo apt install python3-opencv)"))
def _opencv() -> Check:
    try:
        cv2 = import_cv2()
    except BrokenInstallError as exc:  # a system cv2 under another numpy: the line `run` gives too
        return Check("opencv", "missing", exc.problem, exc.repair)
    info = cv2.getBuildInformation()
    feats = {}
    for key in ("GStreamer", "FFMPEG", "v4l/v4l2"):
        line = next((ln for ln in info.splitlines() if ln.strip().startswith(key + ":")), "")
        feats[key] = "YES" in line
    gui = any(ln.strip().startswith(("GTK+:", "QT:", "Win32 UI:", "Cocoa:")) and "YES" in ln
              for ln in info.splitlines())
    detail = f"OpenCV {cv2.__version__}: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in feats.items()) \
        + f", GUI {'yes' if gui else 'no'}"
    fix = "" if feats["GStreamer"] else ("csi:// and GStreamer pipelines need OpenCV with GStreamer: on Jetson use "
                                         "JetPack's system cv2 (see docs/jetson.md)")
    import platform

    # Without GStreamer a Jetson loses csi:// and hardware decoding; elsewhere it is only a note.
    status = "warn" if not feats["FFMPEG"] or (fix and platform.machine() == "aarch64") else "ok"
    if fix and status == "ok":
        detail += " (csi:// and GStreamer pipelines unavailable)"
    return Check("opencv", status, detail, fix)


def _numpy() -> Check:
    """Is the numpy in front the one the system cv2 (JetPack's, Debian's) was built for, and does pip keep it?"""
    found = opencv_numpy()
    if found.mismatch:
        return Check("numpy", "warn", found.problem(), found.repair())
    detail = f"numpy {found.numpy} ({found.numpy_dir})"
    if not found.system_cv2:
        return Check("numpy", "ok", detail)
    if sys.prefix == sys.base_prefix or _pip_holds(f"numpy=={found.numpy}"):
        return Check("numpy", "ok", detail + ", the one the system cv2 was built for")
    # One `pip install` of a package that wants a newer numpy would put it over this one and break cv2.
    return Check("numpy", "info", detail + ", the one the system cv2 was built for; pip in this venv is not "
                 "told to keep it", found.pin())


def _pip_holds(pin: str) -> bool:
    """Whether pip's constraints in this venv (PIP_CONSTRAINT or its pip.conf) contain the line ``pin``."""
    files = os.environ.get("PIP_CONSTRAINT", "").split()
    conf = configparser.ConfigParser()
    conf.read(Path(sys.prefix) / "pip.conf")
    for section in ("global", "install"):
        files += conf.get(section, "constraint", fallback="").split()
    for name in files:
        try:
            if pin in Path(name).read_text().split():
                return True
        except OSError:
            continue
    return False


def report(items: list[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "missing": "MISS", "info": "info"}
    lines = []
    for c in items:
        lines.append(f"[{marks[c.status]}] {c.name:<12} {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':19}fix: {c.fix}")
    return "\n".join(lines)


def as_json(items: list[Check]) -> dict:
    return {"checks": [asdict(c) for c in items], "system": sysinfo.system()}
