# Two set-up commands: `make demo` and `make test`. Both create .venv/ and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PIPFLAGS ?= --disable-pip-version-check -c constraints.txt
DEMO_OUT ?= demo_out
CAMVID ?= ../shared/data/camvid
# The Jetson arrangement for the GStreamer tests: the system's OpenCV (Debian's python3-opencv,
# built with GStreamer) seen from a venv made by the system's own Python with --system-site-packages.
SYSTEM_PYTHON ?= /usr/bin/python3
GST_VENV ?= .venv-gst
GST_BIN := $(GST_VENV)/bin

.PHONY: install dev demo test test-gst gst lint bench clean camvid-lite0

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "unet-edge needs Python >= 3.10")'
	$(PYTHON) -m venv $(VENV)

# Everything a CPU user needs: runtime, training/export (torch, onnx) and ONNX Runtime.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install $(PIPFLAGS) -e ".[train,cpu]"
	@touch $@

# The tests also serve through a real Triton server (the serve extra), deploy third-party models (models)
# and run OpenVINO (openvino).
$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install $(PIPFLAGS) -e ".[train,cpu,openvino,nncf,serve,models,ros,fleet,dev]"
	@touch $@

# The project goes in without its dependencies, so pip's OpenCV wheel never shadows the system
# cv2; the others are installed with numpy held at the system's version (Debian's cv2 is built
# for numpy 1: a pip numpy 2 would break it). As on a Jetson: see docs/jetson.md.
$(GST_VENV)/.installed: pyproject.toml constraints.txt
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(GST_VENV)
	$(SYSTEM_PYTHON) -c 'import numpy; print("numpy==" + numpy.__version__)' > $(GST_VENV)/system-numpy.txt
	$(GST_BIN)/python -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(d for d in deps if "opencv" not in d))' > $(GST_VENV)/requirements.txt
	$(GST_BIN)/python -m pip install --disable-pip-version-check -c $(GST_VENV)/system-numpy.txt -r $(GST_VENV)/requirements.txt onnxruntime onnx "pytest>=8" "pytest-timeout>=2.2"
	$(GST_BIN)/python -m pip install --disable-pip-version-check --no-deps -e .
	$(GST_BIN)/python -c 'import cv2, numpy; assert "GStreamer:                   YES" in cv2.getBuildInformation(), "no GStreamer"; print("system OpenCV", cv2.__version__, "with GStreamer, numpy", numpy.__version__)'
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

demo: install
	$(BIN)/unet-edge demo --out $(DEMO_OUT)

lint: dev
	$(BIN)/ruff check .

test: dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	@if $(SYSTEM_PYTHON) -c 'import cv2, gi' 2>/dev/null; then $(MAKE) --no-print-directory test-gst; else \
		echo "GStreamer tests not run: $(SYSTEM_PYTHON) has no python3-opencv/python3-gi (apt-get install" \
		"python3-opencv python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly" \
		"gstreamer1.0-libav python3-venv; .ci/run does)"; fi

# .venv-gst alone, to run from: what --save rtsp:// and rtp:// (and csi://, GStreamer pipelines) need
# off a Jetson. The system Python must have OpenCV with GStreamer and PyGObject first.
gst:
	@$(SYSTEM_PYTHON) -c 'import cv2, gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null || { \
		echo "make gst: $(SYSTEM_PYTHON) lacks python3-opencv, python3-gi or the RTSP server: sudo apt-get install" \
		"python3-gi python3-opencv python3-venv gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good" \
		"gstreamer1.0-plugins-ugly gstreamer1.0-libav, then make gst again"; exit 1; }
	@$(MAKE) --no-print-directory $(GST_VENV)/.installed
	@echo "$(GST_VENV) is ready: run unet-edge from it, e.g. $(GST_BIN)/unet-edge run --model camvid-lite0" \
		"--source clip.mp4 --save rtsp://@:8554/seg"

# The camera plumbing through the system OpenCV's GStreamer: pipelines, csi://, RTSP in and out.
test-gst: $(GST_VENV)/.installed
	$(GST_BIN)/python -m pytest -m gstreamer tests/runtime/test_gstreamer.py tests/runtime/test_network_out.py

# Rebuild the shipped model and its card from CamVid (train 15 epochs, export, score): about an hour on 2 cores.
camvid-lite0: dev
	$(BIN)/python benchmarks/shipped_model.py --data $(CAMVID)

# On a Jetson (or any box whose cv2 is the system's): install this checkout into a venv over the system's Python
# that sees JetPack's cv2 and tensorrt, with pip told (the venv's pip.conf) to hold numpy at the system's version
# in this install and every later one: a pip numpy in front of it breaks that cv2 (docs/jetson.md). doctor ends
# it, and fails it if cv2 does not import. Extras: make jetson JETSON_EXTRAS='[serve]'.
JETSON_VENV ?= .venv-jetson
JETSON_EXTRAS ?=
.PHONY: jetson
jetson:
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(JETSON_VENV)
	$(SYSTEM_PYTHON) -c 'import numpy; print("numpy==" + numpy.__version__)' > $(JETSON_VENV)/system-numpy.txt
	$(JETSON_VENV)/bin/python -m pip config --site set install.constraint "$(abspath $(JETSON_VENV))/system-numpy.txt"
	$(JETSON_VENV)/bin/python -m pip install --disable-pip-version-check ".$(JETSON_EXTRAS)"
	$(JETSON_VENV)/bin/unet-edge doctor

bench: install
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) $(GST_VENV) $(DEMO_OUT) build dist *.egg-info .pytest_cache .ruff_cache
