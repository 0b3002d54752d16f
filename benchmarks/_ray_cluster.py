"""A Ray cluster of `ray start` nodes on this machine, for the benchmarks: each node in a process group and a
temporary folder of its own, so that stopping it stops its processes and nothing else (never `ray stop`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str], temp: Path, env: dict) -> subprocess.Popen:
    """One `ray start --block` in a process group of its own, so that stopping it stops only its processes."""
    log = open(temp.with_suffix(".log"), "w")  # noqa: SIM115 - open while the node runs
    ray = str(Path(sys.executable).parent / "ray")  # the venv's, beside this Python
    return subprocess.Popen([ray, "start", *args, "--temp-dir", str(temp), "--disable-usage-stats", "--block"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_node(node: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(timeout=wait)
            time.sleep(1)
        except subprocess.TimeoutExpired:
            continue


def node_names(address: str, temps: dict[str, Path], env: dict) -> dict[str, str]:
    """Node id prefix (as label logs it) -> which node, by the temporary folder its object store is in."""
    code = ("import json, logging, ray\nray.init(address=%r, logging_level=logging.ERROR)\n"
            "print(json.dumps([(n['NodeID'][:12], n['ObjectStoreSocketName']) for n in ray.nodes() if n['Alive']]))")
    out = subprocess.run([sys.executable, "-c", code % address], capture_output=True, text=True, env=env, check=True)
    return {nid: next((k for k, t in temps.items() if str(t) in sock), "?")
            for nid, sock in json.loads(out.stdout.strip().splitlines()[-1])}


def wait_nodes(address: str, n: int, env: dict) -> None:
    code = ("import logging, ray, time\nray.init(address=%r, logging_level=logging.ERROR)\n"
            "t = time.time()\nwhile sum(x['Alive'] for x in ray.nodes()) < %d and time.time() - t < 60: time.sleep(1)")
    subprocess.run([sys.executable, "-c", code % (address, n)], capture_output=True, env=env, check=True, timeout=120)


