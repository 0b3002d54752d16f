"""Bad inputs of the network outputs (``--save rtsp://``, ``rtp://``, ``--serve``), ``bench``, ``synth``,
``serve``, shipped model names and bag files given as sources (issue 49)."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

from tests.matrix.row import row

RUN = "run --model {model} --source {clip}"
BENCH = "bench --model {model} --iters 2 --warmup 0 --min-seconds 0"
SERVE = "serve --model {model}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FREE, BUSY = _free_port(), _free_port()  # chosen when the rows are read; BUSY is held by the rows that need it
_held: list[socket.socket] = []  # open for the whole session: the command runs after its row's setup returns


def hold_busy(_tmp: Path) -> None:
    """Another program's server on BUSY, every interface (so 127.0.0.1:BUSY and 0.0.0.0:BUSY are taken)."""
    if _held:
        return
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", BUSY))
    sock.listen()
    _held.append(sock)


def mcap_as_mp4(tmp: Path) -> None:
    (tmp / "drive.mp4").write_bytes(b"\x89MCAP0\r\n" + bytes(200))


def fake_mcap(tmp: Path) -> None:
    (tmp / "drive.mcap").write_bytes(bytes(200))


def corrupt_onnx(tmp: Path) -> None:
    (tmp / "corrupt.onnx").write_bytes(bytes(range(256)) * 8)


def keras_h5(tmp: Path) -> None:
    (tmp / "seg.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))


def stale_synth(tmp: Path) -> None:
    (tmp / ".out.partial" / "images").mkdir(parents=True)


# Where this Python has PyGObject the output would start: the row is for the environments without it.
NO_GI = () if importlib.util.find_spec("gi") is None else ("skip",)

ROWS = [
    # --save rtsp:// and rtp://: every stream's port in range, hosts that resolve, a port free to serve on
    row("misc-rtp-host", f"{RUN} --save rtp://no-such-host.invalid:5004", "cannot resolve host 'no-such-host.invalid'"),
    row("misc-rtp-stream-ports", f"{RUN} --source {{clip}} --save rtp://127.0.0.1:65535",
        "2 streams need ports 65535-65537"),
    row("misc-rtp-port-range", f"{RUN} --save rtp://127.0.0.1:70000", "port 70000 is outside 1-65535"),
    row("misc-rtp-to-everyone", f"{RUN} --save rtp://@:5004", "sends to a receiver: give its address"),
    row("misc-rtsp-port-zero", f"{RUN} --save rtsp://@:0/seg", "port 0 is outside 1-65535"),
    row("misc-rtsp-port-word", f"{RUN} --save rtsp://127.0.0.1:http/seg", "port 'http' is not a number"),
    row("misc-rtsp-no-port", f"{RUN} --save rtsp://@/seg", "give the port, e.g. rtsp://@:8554/seg"),
    row("misc-rtsp-in-use", f"{RUN} --save rtsp://@:{BUSY}/seg",
        f"0.0.0.0:{BUSY} (all interfaces): the port is already in use", setup=hold_busy),
    row("misc-rtsp-host", f"{RUN} --save rtsp://no-such-host.invalid:8554/seg",
        "cannot resolve host 'no-such-host.invalid'"),
    row("misc-rtsp-not-this-machine", f"{RUN} --save rtsp://192.0.2.1:{FREE}/seg",
        "192.0.2.1 is not an address of this machine"),
    row("misc-rtsp-no-gstreamer", f"{RUN} --save rtsp://127.0.0.1:{FREE}/seg", "make gst", marks=NO_GI),
    # --serve, the MJPEG live view
    row("misc-serve-view-host", f"{RUN} --serve no-such-host.invalid:{FREE}", "cannot resolve host"),
    row("misc-serve-view-in-use", f"{RUN} --serve 127.0.0.1:{BUSY}", "already in use", setup=hold_busy),
    # a misspelt shipped model
    row("misc-model-misspelt", "run --model camvid-lite1 --source {clip}", "did you mean camvid-lite0?"),
    row("misc-bench-model-misspelt", "bench --model camvid-lite1", "shipped: camvid-lite0"),
    # a bag's storage file given as a video
    row("misc-mcap-as-video", "run --model {model} --source {tmp}/drive.mp4", "an MCAP file (a ROS 2 bag's storage)",
        setup=mcap_as_mp4),
    row("misc-mcap-not-a-bag", "run --model {model} --source {tmp}/drive.mcap", "not a ROS 2 bag's storage file",
        setup=fake_mcap),
    # bench: options, outputs against inputs, a model it cannot open, named backends that cannot run
    row("misc-bench-corrupt-onnx", "bench --model {tmp}/corrupt.onnx --json {tmp}/b.json",
        "corrupt.onnx: not a readable ONNX file", setup=corrupt_onnx),
    row("misc-bench-keras", "bench --model {tmp}/seg.h5 --json {tmp}/b.json", "a Keras/HDF5 model", setup=keras_h5),
    row("misc-bench-batch", f"{BENCH} --batch 0", "--batch 0: give at least 1"),
    row("misc-bench-iters", f"{BENCH} --iters 0", "--iters 0: give at least 1"),
    row("misc-bench-warmup", f"{BENCH} --warmup -1", "--warmup -1: give at least 0"),
    row("misc-bench-min-seconds", f"{BENCH} --min-seconds -1", "--min-seconds -1"),
    row("misc-bench-threads", f"{BENCH} --threads 0", "--threads 0"),
    row("misc-bench-stream-frames", f"{BENCH} --source {{clip}} --stream-frames 0", "--stream-frames 0"),
    row("misc-bench-data-limit", f"{BENCH} --data-limit 0", "--data-limit 0"),
    row("misc-bench-size", f"{BENCH} --size 8x8", "--size 8x8"),
    row("misc-bench-unknown-backend", f"{BENCH} --backends torch,tflite", "unknown backend(s) tflite; choose from"),
    row("misc-bench-named-torch", f"{BENCH} --backends torch --json {{tmp}}/b.json",
        "torch cannot run here: needs a PyTorch model"),
    row("misc-bench-named-fp16", f"{BENCH} --backends onnxruntime-fp16 --json {{tmp}}/b.json", "tiny.onnx is fp32"),
    row("misc-bench-named-fails-running", f"{BENCH} --backends onnxruntime,openvino --provider openvino --device GPU",
        "openvino could not run: OpenVINO device GPU is not available"),
    row("misc-bench-json-is-sidecar", f"{BENCH} --json {{tmp}}/model/tiny.onnx.json", "is the input --model"),
    row("misc-bench-plot-in-source", f"{BENCH} --source {{frames}} --plot {{frames}}/b.png",
        "lies inside the input --source"),
    row("misc-bench-json-is-folder", f"{BENCH} --json {{tmp}}", "a folder; give a file name"),
    # synth: every option before a write
    row("misc-synth-frames", "synth {tmp}/out --frames 0", "--frames 0: give at least 1"),
    row("misc-synth-clip-frames", "synth {tmp}/out --frames 2 --clip-frames -1", "--clip-frames -1"),
    row("misc-synth-fps", "synth {tmp}/out --frames 2 --fps 0", "--fps 0"),
    row("misc-synth-workers", "synth {tmp}/out --frames 2 --workers 0", "--workers 0"),
    row("misc-synth-size", "synth {tmp}/out --frames 2 --size 8x8", "--size 8x8"),
    row("misc-synth-into-file", "synth {clip} --frames 2", "a file, not a folder"),
    row("misc-synth-interrupted", "synth {tmp}/out --frames 2", "interrupted synth", setup=stale_synth),
    # serve: before Triton starts
    row("misc-serve-port-zero", f"{SERVE} --http 0", "--http 0: port 0 is outside 1-65535"),
    row("misc-serve-port-range", f"{SERVE} --metrics 70000", "--metrics 70000: port 70000 is outside 1-65535"),
    row("misc-serve-same-ports", f"{SERVE} --http {FREE} --grpc {FREE}", "give distinct ports"),
    row("misc-serve-in-use", f"{SERVE} --http {BUSY}", f"--http {BUSY}: cannot listen on 127.0.0.1:{BUSY}",
        setup=hold_busy),
    row("misc-serve-host", f"{SERVE} --host no-such-host.invalid", "cannot resolve host"),
    row("misc-serve-max-batch", f"{SERVE} --max-batch 0", "--max-batch 0"),
    row("misc-serve-threads", f"{SERVE} --threads 0", "--threads 0"),
    row("misc-serve-model-misspelt", "serve --model camvid-lite1", "did you mean camvid-lite0?"),
]
