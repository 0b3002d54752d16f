"""Training settings; everything a run needs to be repeated or resumed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from unet_edge.core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class TrainConfig:
    """All training arguments (stored in every checkpoint)."""

    data: str
    dataset: str = "camvid"
    arch: str = "unet"
    width: int | None = None
    batchnorm: bool | None = None
    size: tuple[int, int] = (360, 480)
    epochs: int = 50
    batch: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weights: str = "none"  # none | median
    scale: tuple[float, float] = (0.75, 1.5)
    jitter: float = 0.25
    workers: int = -1  # -1: choose from the core count
    out: str = "runs/train"
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_classes: int | None = None  # CARLA: read from the data when not given
    val_fraction: float = 0.1
    max_steps: int | None = None  # per epoch, for smoke runs and benchmarks
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1:
            raise ConfigError("--epochs and --batch must be at least 1")
        if self.class_weights not in ("none", "median"):
            raise ConfigError("--class-weights must be 'none' or 'median'")
        if not Path(self.data).exists():
            raise ConfigError(f"{self.data}: dataset folder not found")

    def to_dict(self) -> dict:
        return asdict(self)
