"""Ray for ``label``: a local one started inside the command on this box's cores, a running cluster when
--ray-address names one, or the Ray this process already runs (a notebook's, a test's), reused as it is."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from unet_edge.core.errors import ConfigError
from unet_edge.core.lazy import require
from unet_edge.core.sysinfo import usable_cores

_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def check_address(address: str | None) -> None:
    """Refuse an --ray-address that is neither ``auto``, ``HOST:PORT`` nor ``ray://HOST:PORT``."""
    if address is not None and not _ADDRESS.match(address):
        raise ConfigError(f"--ray-address {address}: give auto, HOST:PORT (a node of the cluster, as ray start "
                          "prints it) or ray://HOST:PORT (Ray Client)")


def _quiet() -> None:
    """Ray's and Ray Data's own chatter off stderr: the command prints its own progress and errors."""
    # the C++ core worker's log below FATAL (e.g. its note on actor arguments in the object store); the
    # cluster's own processes still log to their session folder
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _data_context() -> None:
    ray_data = require("ray.data")
    ctx = ray_data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("enable_operator_progress_bars", "verbose_stats_logs", "enable_auto_log_stats"):
        if hasattr(ctx, name):
            setattr(ctx, name, False)


def connect(address: str | None, log: Callable[[str], None]) -> bool:
    """Ray, ready for Ray Data; True when this call started it (and :func:`disconnect` stops it)."""
    ray = require("ray")
    _quiet()
    if ray.is_initialized():
        log("label: using the Ray this process already runs")
        _data_context()
        return False
    try:
        if address is None:
            # "local": a new Ray of our own, whatever RAY_ADDRESS says
            ray.init(address="local", num_cpus=usable_cores(), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        ray.shutdown()
        where = f"--ray-address {address}" if address else "a local Ray"
        raise ConfigError(f"{where}: cannot start or reach Ray ({_why(exc)})") from exc
    _data_context()
    return True


def _why(exc: BaseException) -> str:
    """Ray's reason in one line; a cluster that wants its token (Ray's default) says how to give it."""
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    if any("InvalidAuthToken" in text for text in chain):
        return ("the cluster asks for its token: set RAY_AUTH_MODE=token, with the head's token in ~/.ray/auth_token "
                "or RAY_AUTH_TOKEN")
    return " ".join(chain[0].split())[:300]


def resources() -> tuple[float, float, int]:
    """The cluster's CPUs, GPUs and nodes, as Ray counts them."""
    ray = require("ray")
    total = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return float(total.get("CPU", 0)), float(total.get("GPU", 0)), nodes


def disconnect(started: bool) -> None:
    """Stop the Ray this command started; one it found is left running."""
    if started:
        require("ray").shutdown()
