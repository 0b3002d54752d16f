"""``serve``'s options are checked before Triton (or PyTriton) is touched: ports in range, distinct and
free at the host, a host that resolves, a batch and thread count of at least 1."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from unet_edge.core.errors import ConfigError
from unet_edge.serving.triton import ServeConfig, check_serve_config, free_ports, serve


def _cfg(**kw) -> ServeConfig:
    http, grpc, metrics = free_ports(3)
    return ServeConfig(**{"model": Path("camvid-lite0"), "http": http, "grpc": grpc, "metrics": metrics, **kw})


@pytest.mark.parametrize("kw,message", [
    ({"http": 0}, "--http 0: port 0 is outside 1-65535"),
    ({"grpc": 70000}, "--grpc 70000: port 70000 is outside 1-65535"),
    ({"max_batch": 0}, "--max-batch 0: give at least 1"),
    ({"threads": 0}, "--threads 0: give at least 1"),
    ({"host": "no-such-host.invalid"}, "--host no-such-host.invalid: cannot resolve host"),
    ({"host": "192.0.2.1"}, "not an address of this machine"),
])
def test_a_bad_option_is_one_line_naming_it(kw, message):
    with pytest.raises(ConfigError, match=message):
        check_serve_config(_cfg(**kw))


def test_ports_must_be_distinct_and_free():
    cfg = _cfg()
    check_serve_config(cfg)
    with pytest.raises(ConfigError, match=f"--http {cfg.http} and --metrics {cfg.http}: .*distinct"):
        check_serve_config(_cfg(http=cfg.http, metrics=cfg.http))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", cfg.grpc))
        busy.listen()
        with pytest.raises(ConfigError, match=f"--grpc {cfg.grpc}: cannot listen on 127.0.0.1:{cfg.grpc}: the port "
                                              "is already in use"):
            check_serve_config(cfg)


def test_serve_checks_before_it_imports_pytriton(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytriton", None)  # an import of it would fail: the check comes first
    with pytest.raises(ConfigError, match="--max-batch 0"):
        serve(_cfg(max_batch=0))
    with pytest.raises(ConfigError, match="--model camvid-lite1: model file not found.*camvid-lite0"):
        serve(_cfg(model=Path("camvid-lite1")))
