"""`unet-edge serve`: a real Triton server on loopback, 8 concurrent tritonclient clients over HTTP
and gRPC, masks identical to the local runner's."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow
httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient is not installed: "
                                 "pip install 'unet-edge[serve]'")
grpcclient = pytest.importorskip("tritonclient.grpc")
pytest.importorskip("pytriton", reason="nvidia-pytriton is not installed: pip install 'unet-edge[serve]'")


@pytest.fixture(scope="module")
def server(model):
    from unet_edge.serving.triton import free_ports

    http, grpc, metrics = free_ports(3)
    proc = subprocess.Popen([sys.executable, "-m", "unet_edge", "serve", "--model", str(model), "--http", str(http),
                             "--grpc", str(grpc), "--metrics", str(metrics), "--max-batch", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{http}")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        try:
            if client.is_server_ready() and client.is_model_ready("unet_edge"):
                break
        except Exception:  # not listening yet
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("Triton did not become ready: " + proc.stderr.read()[-3000:])
    yield {"http": http, "grpc": grpc, "metrics": metrics}
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _infer(lib, url: str, frames: list[np.ndarray]) -> list[np.ndarray]:
    client = lib.InferenceServerClient(url)
    masks = []
    for f in frames:
        inp = lib.InferInput("frame", [1, *f.shape], "UINT8")
        inp.set_data_from_numpy(f[None])
        res = client.infer("unet_edge", [inp], outputs=[lib.InferRequestedOutput("mask")])
        masks.append(res.as_numpy("mask")[0])
    return masks


def test_eight_concurrent_clients_get_the_local_runners_masks(server, model):
    from unet_edge.runtime import Segmenter
    from unet_edge.synth import scene

    frames = [scene(500 + i, (120, 160))[0] for i in range(6)]  # not the model's size: served like Segmenter
    with Segmenter(model) as seg:
        expect = [seg(f) for f in frames]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            lib, url = (httpclient, f"127.0.0.1:{server['http']}") if i % 2 else \
                (grpcclient, f"127.0.0.1:{server['grpc']}")
            results[i] = _infer(lib, url, frames)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    assert sorted(results) == list(range(8))
    for masks in results.values():
        for got, want in zip(masks, expect):
            assert got.shape == want.shape == (120, 160) and got.dtype == np.uint8
            assert np.array_equal(got, want)


def test_metrics_are_served(server):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server['metrics']}/metrics", timeout=10) as resp:
        body = resp.read().decode()
    assert "nv_inference_request_success" in body


def test_the_docs_client_streams_a_video_from_concurrent_clients(server, synth_dir):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "triton_client.py"
    proc = subprocess.run([sys.executable, str(example), str(synth_dir / "clip.mp4"), "--clients", "4", "--http",
                           str(server["http"]), "--grpc", str(server["grpc"])], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert sum("20 masks" in ln for ln in lines) == 4 and lines[-1].startswith("80 masks in")
