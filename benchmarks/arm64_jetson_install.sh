#!/usr/bin/env bash
# The Jetson install on a real aarch64 userland, emulated (issue 52): a Debian 12 arm64 root made by debootstrap
# under qemu-user-static, with Debian's python3-opencv (GStreamer) and python3-numpy, stands in for JetPack's
# system cv2 and numpy. In it:
#   A. the built wheel is installed the way docs/jetson.md says (a --system-site-packages venv whose pip.conf
#      holds numpy at the system's), and `unet-edge run --model camvid-lite0` streams CamVid frames through the
#      system cv2 and ONNX Runtime's aarch64 wheel; its --save-masks are compared with x86's on every pixel;
#   B. numpy 2 put in front of the system's in another venv: doctor and run give the one line, its repair works,
#      and the pinned venv's pip refuses that numpy;
#   C. `make jetson JETSON_EXTRAS='[cpu]'` from a copy of the checkout (HEAD), ending in unet-edge doctor.
# Frames are PNGs: FFmpeg's MPEG-4 decoder is not bit-exact across architectures (/work/shared/arm64-emulation.md).
# Run as root (debootstrap, chroot, binfmt), slow: nice -n 19 benchmarks/arm64_jetson_install.sh
# Writes benchmarks/results/arm64_jetson_install.json; the root and its work files stay in $ROOT and $WORK.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${ROOT:-/var/tmp/unet-edge-arm64/root}
WORK=${WORK:-/var/tmp/unet-edge-arm64/work}
FRAMES=${FRAMES:-4}   # about 10 s each, emulated
ORT=${ORT:-1.20.1}    # 1.32.0's aarch64 wheel segfaults creating a session under Debian 12's qemu-user 7.2
MIRROR=${MIRROR:-http://deb.debian.org/debian}
STEPS=${STEPS:-ABC}
PY=$REPO/.venv/bin/python
RES=$WORK/res
OUT_JSON=$REPO/benchmarks/results/arm64_jetson_install.json

mkdir -p "$WORK" "$RES"
find "$RES" -type f ! -name debootstrap_s -delete  # this run's results only; the root is made once
log() { echo "[$(date +%T)] $*" | tee -a "$WORK/log.txt"; }
now() { date +%s; }
# A clean login-like environment in the root (the host's PIP_* settings and pip.conf stay outside).
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin bash -c "$1"; }

log "tools: qemu-user-static, debootstrap, binfmt"
command -v debootstrap >/dev/null && command -v qemu-aarch64-static >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q qemu-user-static debootstrap binfmt-support >/dev/null; }
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64

if [ ! -x "$ROOT/usr/bin/python3" ]; then
    log "debootstrap bookworm arm64 into $ROOT"
    t=$(now)
    mkdir -p "$ROOT"
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-pip,python3-opencv,python3-numpy,ca-certificates,make \
        bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1
    echo $(( $(now) - t )) >"$RES/debootstrap_s"
fi
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
mountpoint -q "$ROOT/sys" || mount --bind /sys "$ROOT/sys"
trap 'umount "$ROOT/sys" "$ROOT/dev" "$ROOT/proc" 2>/dev/null || true' EXIT

rm -rf "$ROOT/opt/bench" && mkdir -p "$ROOT/opt/bench"
cat >"$ROOT/opt/bench/probe.py" <<'EOF'
import re, sys
import cv2, numpy
gst = re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()) is not None
print(sys.version.split()[0], numpy.__version__, cv2.__version__, f"GStreamer={gst}", numpy.__file__, cv2.__file__)
EOF
log "the root's Python, numpy and OpenCV"
in_root 'python3 /opt/bench/probe.py' | tee "$RES/system.txt"
SYS_NUMPY=$(cut -d' ' -f2 "$RES/system.txt")
echo "numpy==$SYS_NUMPY" >"$WORK/system-numpy.txt"

log "host: the wheel, and the aarch64 wheels it needs with numpy held at $SYS_NUMPY"
rm -rf "$WORK/wheels" "$WORK/wheels-np2" && mkdir -p "$WORK/wheels" "$WORK/wheels-np2"
# From HEAD, not the working tree (others' unfinished edits stay out); step C builds the same copy.
rm -rf "$WORK/src" && mkdir -p "$WORK/src" && git -C "$REPO" archive HEAD | tar -x -C "$WORK/src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/wheels" "$WORK/src" >/dev/null
WHEEL=$(basename "$(ls "$WORK"/wheels/unet_edge-*.whl)")
# The base requirements whose markers hold on aarch64 (pip would evaluate them for this x86 host).
mapfile -t REQS < <("$PY" - "$REPO/pyproject.toml" <<'EOF'
import sys, tomllib
from packaging.requirements import Requirement
env = {"platform_machine": "aarch64", "python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
for r in map(Requirement, tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]):
    if r.marker is None or r.marker.evaluate(env):
        print(f"{r.name}{r.specifier}")
EOF
)
PLATS=(--platform manylinux2014_aarch64); for n in $(seq 17 36); do PLATS+=(--platform "manylinux_2_${n}_aarch64"); done
"$PY" -m pip download -q --only-binary=:all: --python-version 3.11 "${PLATS[@]}" -c "$WORK/system-numpy.txt" \
    -d "$WORK/wheels" "${REQS[@]}" "onnxruntime==$ORT"
"$PY" -m pip download -q --only-binary=:all: -d "$WORK/wheels" "setuptools>=68" wheel  # make jetson builds
"$PY" -m pip download -q --only-binary=:all: --python-version 3.11 "${PLATS[@]}" --no-deps -d "$WORK/wheels-np2" \
    "numpy==2.2.6"
printf '%s\n' "${REQS[@]}" >"$RES/requirements.txt"

log "frames: $FRAMES CamVid val PNGs (lossless, so both architectures decode the same pixels)"
rm -rf "$WORK/frames" && mkdir -p "$WORK/frames"
ls "$REPO/../shared/data/camvid/val"/*.png | head -n "$FRAMES" | xargs -I{} cp {} "$WORK/frames/"
cp -r "$WORK/wheels" "$WORK/wheels-np2" "$WORK/frames" "$ROOT/opt/bench/"

if [[ $STEPS == *A* ]]; then
    log "A. install the wheel as docs/jetson.md says (the index replaced by the downloaded wheels)"
    t=$(now)
    in_root "set -e; cd /opt/bench; python3 -m venv --system-site-packages ue; . ue/bin/activate
        python -c 'import numpy; print(\"numpy==\" + numpy.__version__)' > \"\$VIRTUAL_ENV/system-numpy.txt\"
        pip config --site set install.constraint \"\$VIRTUAL_ENV/system-numpy.txt\"
        pip install -q --no-index --find-links /opt/bench/wheels wheels/$WHEEL onnxruntime==$ORT" \
        >"$WORK/A_install.log" 2>&1
    echo $(( $(now) - t )) >"$RES/A_install_s"
    in_root '/opt/bench/ue/bin/pip list --local 2>/dev/null' >"$RES/A_venv_packages.txt"
    in_root '/opt/bench/ue/bin/python /opt/bench/probe.py' >"$RES/A_imports.txt"
    in_root '/opt/bench/ue/bin/unet-edge doctor' >"$RES/A_doctor.txt" 2>&1 || true
    log "A. run camvid-lite0 over $FRAMES frames, emulated"
    t=$(now)
    in_root "cd /opt/bench && ue/bin/unet-edge run --model camvid-lite0 --source frames --save-masks masks-arm64" \
        >"$RES/A_run.txt" 2>&1 && echo 0 >"$RES/A_run_rc" || echo $? >"$RES/A_run_rc"
    echo $(( $(now) - t )) >"$RES/A_run_s"
    log "A. the same run on x86: the same wheel and ONNX Runtime $ORT in a venv of this host's Python"
    rm -rf "$WORK/masks-x86" "$WORK/x86"
    "$(readlink -f "$PY")" -m venv "$WORK/x86"
    "$WORK/x86/bin/pip" install -q "$WORK/wheels/$WHEEL" "onnxruntime==$ORT" >"$WORK/x86_install.log" 2>&1
    "$WORK/x86/bin/unet-edge" run --model camvid-lite0 --source "$WORK/frames" --save-masks "$WORK/masks-x86" \
        >"$RES/A_run_x86.txt" 2>&1
    rm -rf "$WORK/masks-arm64" && cp -r "$ROOT/opt/bench/masks-arm64" "$WORK/masks-arm64" 2>/dev/null || true
fi

if [[ $STEPS == *B* ]]; then
    log "B. numpy 2.2.6 in front of the system's: the one line, its repair, and the pin refusing it"
    in_root "set -e; cd /opt/bench; python3 -m venv --system-site-packages ue2
        ue2/bin/pip install -q --no-index --find-links wheels --find-links wheels-np2 numpy==2.2.6 wheels/$WHEEL" \
        >"$WORK/B_install.log" 2>&1
    for cmd in doctor "run --model camvid-lite0 --source frames"; do
        in_root "/opt/bench/ue2/bin/unet-edge $cmd" >/dev/null 2>"$RES/B_stderr.tmp" && rc=0 || rc=$?
        { echo "unet-edge $cmd: exit $rc, $(wc -l <"$RES/B_stderr.tmp") stderr line(s)"; cat "$RES/B_stderr.tmp"; } \
            >>"$RES/B_broken.txt"
    done
    repair=$(sed -n 's/.*; repair: //p' "$RES/B_stderr.tmp" | head -1)
    in_root "$repair" >/dev/null 2>&1 || true
    in_root '/opt/bench/ue2/bin/unet-edge doctor' >"$RES/B_repaired_doctor.txt" 2>&1 || true
    [[ $STEPS == *A* ]] && { in_root '/opt/bench/ue/bin/pip install --no-index --find-links /opt/bench/wheels-np2 \
        numpy==2.2.6' >"$RES/B_pinned.txt" 2>&1 || true; }
    rm -f "$RES/B_stderr.tmp"
fi

if [[ $STEPS == *C* ]]; then
    log "C. make jetson JETSON_EXTRAS='[cpu]' from HEAD of the checkout"
    rm -rf "$ROOT/opt/bench/src" && cp -r "$WORK/src" "$ROOT/opt/bench/src"
    t=$(now)
    in_root "cd /opt/bench/src && PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/bench/wheels make jetson JETSON_EXTRAS='[cpu]'" \
        >"$RES/C_make_jetson.txt" 2>&1 && echo 0 >"$RES/C_rc" || echo $? >"$RES/C_rc"
    echo $(( $(now) - t )) >"$RES/C_s"
    in_root '/opt/bench/src/.venv-jetson/bin/pip list --local 2>/dev/null' | grep -i -E "numpy|opencv|onnxruntime|unet" \
        >"$RES/C_packages.txt" || true
fi

[ -x "$WORK/x86/bin/python" ] && "$WORK/x86/bin/python" -c "import numpy, cv2, onnxruntime, platform; \
print(platform.python_version(), numpy.__version__, cv2.__version__, onnxruntime.__version__)" >"$RES/x86_versions.txt"
log "results -> $OUT_JSON"
"$PY" - "$WORK" "$OUT_JSON" <<'EOF'
import json, sys
from pathlib import Path
import re
import numpy as np
from PIL import Image  # the maps are palette PNGs: their indices are the class ids

work, out = Path(sys.argv[1]), Path(sys.argv[2])
res = work / "res"
text = lambda name: (res / name).read_text().strip() if (res / name).exists() else None
masks = {}
x86, arm = work / "masks-x86", work / "masks-arm64"
if x86.is_dir():
    for f in sorted(x86.glob("*.png")):
        a = np.array(Image.open(f))
        b = np.array(Image.open(arm / f.name)) if (arm / f.name).exists() else None
        masks[f.name] = None if b is None else {"pixels": int(a.size), "equal": int((a == b).sum()),
                                                "shape": list(a.shape), "classes": int(len(np.unique(a)))}


def checks(name, which=("opencv", "numpy", "onnxruntime")):
    """doctor's lines for ``which``, each with its fix line."""
    lines, keep = [], False
    for ln in (text(name) or "").splitlines():
        keep = bool(re.match(rf"\[.{{4}}\] ({'|'.join(which)}) ", ln)) or (keep and ln.startswith(" "))
        if keep:
            lines.append(ln.strip())
    return lines


result = {
    "root": {"debootstrap_s": text("debootstrap_s"), "python_numpy_opencv_gstreamer": text("system.txt")},
    "x86_python_numpy_opencv_onnxruntime": text("x86_versions.txt"),
    "requirements_on_aarch64": (text("requirements.txt") or "").splitlines(),
    "A_install": {"seconds": text("A_install_s"), "venv_packages": (text("A_venv_packages.txt") or "").splitlines(),
                  "imports": text("A_imports.txt"), "doctor": checks("A_doctor.txt")},
    "A_run": {"exit": text("A_run_rc"), "seconds": text("A_run_s"), "log_tail": (text("A_run.txt") or "")[-1500:],
              "x86_log_tail": (text("A_run_x86.txt") or "")[-600:]},
    "masks_arm64_vs_x86": masks,
    "masks_all_equal": bool(masks) and all(m and m["equal"] == m["pixels"] for m in masks.values()),
    "B_numpy2": {"broken": text("B_broken.txt"), "after_repair_doctor": checks("B_repaired_doctor.txt"),
        "pinned_venv_refuses": (text("B_pinned.txt") or "")[-400:]},
    "C_make_jetson": {"exit": text("C_rc"), "seconds": text("C_s"),
                      "venv_numpy_opencv_onnxruntime": (text("C_packages.txt") or "").splitlines(),
                      "doctor": checks("C_make_jetson.txt")},
}
out.write_text(json.dumps(result, indent=1) + "\n")
print(json.dumps({k: result[k] for k in ("masks_all_equal", "masks_arm64_vs_x86")}, indent=1))
EOF
