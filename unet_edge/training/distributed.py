"""torchrun / DistributedDataParallel plumbing: NCCL on CUDA, gloo on CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Dist:
    """Join the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = torch.device(f"cuda:{local}" if cuda and device in ("auto", "cuda") else (device if cuda else "cpu"))
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        if not cuda:  # processes share the cores: don't oversubscribe them
            from unet_edge.core.sysinfo import usable_cores

            torch.set_num_threads(max(1, usable_cores() // world))
    return Dist(rank, world, local, dev)


def all_sum(array: np.ndarray, d: Dist) -> np.ndarray:
    """Sum a numpy array over all processes (identity when not distributed)."""
    if d.world_size == 1:
        return array
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(d.device)
    dist.all_reduce(t)
    return t.cpu().numpy()


def barrier(d: Dist) -> None:
    if d.world_size > 1:
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
