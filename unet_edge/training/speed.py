"""How the CPU training step runs fastest on this machine: channels_last, and bf16 autocast where it pays.

Whether bf16 autocast speeds a step up depends on the CPU, the memory format, the model and the crop
size, not only on whether the CPU has bf16 instructions: it is measured here, a few alternating timed
steps of each on a copy of the model, and the figures are cached per CPU model, thread count, torch
version, model and step shape (``~/.cache/unet-edge/train_precision.json``), so that later runs start at
once; figures taken while other work loads the machine are used but not cached. ``--bf16``/``--no-bf16``
skip the measurement.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# bf16 is taken only when it is clearly faster: a tie keeps FP32's numerics.
MIN_GAIN = 1.05
# Rounds of one mode further apart than this mean other work shared the cores: the figures are not cached.
MAX_SPREAD = 1.2


def cache_path() -> Path:
    from unet_edge.core.io import user_cache

    return user_cache() / "train_precision.json"


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A 4-D batch in the step's memory format (a no-op when it is already in it)."""
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def contiguous_state(state):
    """``state`` (a state dict, or nested dicts and lists of tensors) with every tensor in row-major order: a
    channels_last model saves the same plain tensors as an NCHW one, so checkpoints and export do not
    depend on the memory format training ran in."""
    if isinstance(state, torch.Tensor):
        # strides too: a 1x1 kernel in channels_last passes as contiguous, with other strides
        plain = state.stride() == _row_major(state.shape)
        return state if plain else state.clone(memory_format=torch.contiguous_format)
    if isinstance(state, dict):
        return {k: contiguous_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(contiguous_state(v) for v in state)
    return state


def _row_major(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def step_key(arch: str, options: dict, size: tuple[int, int], batch: int, loss: str, channels_last: bool) -> str:
    """What the measurement depends on: the machine and the step's shape."""
    from unet_edge.core.sysinfo import cpu

    shape = json.dumps({"arch": arch, "options": options}, sort_keys=True, default=str)
    return (f"{cpu()['model']} | {torch.get_num_threads()} threads | torch {torch.__version__} | {shape} | "
            f"{size[0]}x{size[1]} x{batch} | {loss} | {'channels_last' if channels_last else 'nchw'}")


@dataclass(frozen=True)
class StepShape:
    """The training step being timed: batch, crop size, class count and memory format."""

    batch: int
    size: tuple[int, int]
    num_classes: int
    channels_last: bool


def time_steps(model: nn.Module, criterion: nn.Module, shape: StepShape, modes: tuple[bool, ...] = (False, True),
               rounds: int = 3, steps: int = 2) -> tuple[dict[bool, float], float]:
    """Images/s of the training step (forward, loss, backward, AdamW) per bf16 mode, on a copy of ``model``
    (its weights and BatchNorm statistics stay untouched) and random batches, the modes alternating round
    by round so that other load on the machine affects each alike. The median round counts; also returned,
    the largest ratio of a mode's slowest round to its fastest (near 1 on a quiet machine)."""
    batch, size, num_classes, channels_last = shape.batch, shape.size, shape.num_classes, shape.channels_last
    net = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-6, fused=True)
    gen = torch.Generator().manual_seed(0)
    x = to_memory_format(torch.randn(batch, 3, *size, generator=gen), channels_last)
    y = torch.randint(0, num_classes, (batch, *size), generator=gen)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = criterion(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for bf16 in modes:  # warm-up: oneDNN primitives, the allocator
        step(bf16)
        step(bf16)
    seconds: dict[bool, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for bf16 in modes:
            t0 = time.perf_counter()
            for _ in range(steps):
                step(bf16)
            seconds[bf16].append(time.perf_counter() - t0)
    spread = max(max(s) / min(s) for s in seconds.values())
    return {m: batch * steps / statistics.median(s) for m, s in seconds.items()}, spread


def choose_bf16(setting: bool | str, model: nn.Module, criterion: nn.Module, key: str, shape: StepShape,
                log: Callable[[str], None]) -> bool:
    """bf16 autocast for the CPU step: ``setting`` when True or False; for "auto", measured (or cached)."""
    if setting != "auto":
        return bool(setting)
    from unet_edge.training.config import cpu_has_bf16

    if not cpu_has_bf16():
        return False  # emulated bf16 is always slower
    path = cache_path()
    cache = _read(path)
    rec = cache.get(key)
    if rec is None:
        busy = _busy()
        rate, spread = time_steps(model, criterion, shape)
        rec = {"fp32_images_per_s": round(rate[False], 3), "bf16_images_per_s": round(rate[True], 3),
               "measured": time.strftime("%Y-%m-%d %H:%M")}
        source = "measured"
        # other work skews the figures: good enough for this run, not for the next ones
        if busy:
            source += f" with load average {busy:.1f}, so not cached"
        elif spread > MAX_SPREAD:
            source += f" with rounds {spread:.2f}x apart (other load), so not cached"
        else:
            cache[key] = rec
            _write(path, cache)
    else:
        source = f"cached in {path}"
    fp32, bf16 = rec["fp32_images_per_s"], rec["bf16_images_per_s"]
    chosen = bf16 >= MIN_GAIN * fp32
    log(f"bf16 autocast {'on' if chosen else 'off'}: a {'channels_last' if shape.channels_last else 'NCHW'} step "
        f"runs {bf16:.2f} img/s in bf16 vs {fp32:.2f} in FP32 ({source}; --bf16/--no-bf16 to choose)")
    return chosen


def _busy() -> float:
    """The load average when other work occupies this process's cores (else 0)."""
    from unet_edge.core.sysinfo import usable_cores

    try:
        load = os.getloadavg()[0]
    except OSError:
        return 0.0
    return load if load > usable_cores() + 0.5 else 0.0


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    from unet_edge.core.io import write_json_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)
    except OSError:
        pass  # a read-only home only costs the measurement again next time
