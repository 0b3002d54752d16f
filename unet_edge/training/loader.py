"""DataLoaders: augmentation in worker processes, uint8 tensors to the device, normalisation there."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from unet_edge.data import SegDataset
from unet_edge.data.transforms import EvalTransform, TrainTransform


class TorchSegDataset(Dataset):
    """Wraps a SegDataset and a transform; yields uint8 HxWx3 images and int64 HxW masks.

    Images stay uint8 until they are on the device: a quarter of the bytes to move.
    """

    def __init__(self, ds: SegDataset, transform: TrainTransform | EvalTransform, seed: int) -> None:
        self.ds = ds
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int):
        image, mask = self.ds[index]
        # Per-sample generator: the same seed gives the same augmentation whatever the worker count.
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image, mask = self.transform(image, mask, rng)
        return torch.from_numpy(image), torch.from_numpy(mask.astype(np.int64))


def default_workers(world_size: int = 1) -> int:
    """Loader workers per process: the cores this process may use, capped at 8."""
    from unet_edge.core.sysinfo import usable_cores

    return max(1, min(8, usable_cores() // max(1, world_size)))


def make_loader(ds: TorchSegDataset, batch: int, train: bool, workers: int, pin: bool,
                rank: int = 0, world_size: int = 1, seed: int = 0) -> DataLoader:
    """A DataLoader over ``ds``; sharded with a DistributedSampler when ``world_size`` > 1."""
    sampler = None
    if world_size > 1:
        sampler = DistributedSampler(ds, num_replicas=world_size, rank=rank, shuffle=train, seed=seed,
                                     drop_last=train)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=train and sampler is None, sampler=sampler,
                      num_workers=workers, pin_memory=pin, drop_last=train and len(ds) >= batch,
                      persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                      generator=gen)
