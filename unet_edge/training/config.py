"""Training settings; everything a run needs to be repeated or resumed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.core.options import check_config, opt
from unet_edge.core.parse import parse_ints, parse_range, parse_size
from unet_edge.data import LAYOUT_NAMES
from unet_edge.models import DEFAULT_ARCH

FOREIGN = "foreign:"  # the arch of a --model-class run: "foreign:MODULE:NAME"
LOSSES = ("ce", "ce+dice", "ce+lovasz", "ohem")  # training/losses.py's SegLoss
CLASS_WEIGHTS = ("none", "median")
RUN_FILES = ("best.pt", "last.pt", "curve.png", "summary.txt")  # what a run writes into --out


def _decoder(text: str) -> tuple[int, ...]:
    return parse_ints(text, "--decoder-channels")


def _scale(text: str) -> tuple[float, float]:
    return parse_range(text, "--scale")


@dataclass
class TrainConfig:
    """All training arguments (stored in every checkpoint); None means the architecture's recipe."""

    data: str = opt(help="dataset root", cli_type=Path, parse=str)
    dataset: str = opt("camvid", "layout: camvid | carla | folder", choices=LAYOUT_NAMES)
    # a registered architecture (default DEFAULT_ARCH); "foreign:CLASS" with model_class
    arch: str | None = opt(None, "architecture: unet-efficientnet-lite0 (-lite1, -lite2), unet, unet-lite, or one a "
                                 f"package registers (default: {DEFAULT_ARCH}); or your own with --model-class")
    pretrained: bool | None = opt(None, "ImageNet encoder (default: on where the arch has one)",
                                  flags=("--pretrained/--no-pretrained",))
    width: int | None = opt(None, "unet/unet-lite base filters; default per arch", min=1)
    batchnorm: bool | None = opt(None, flags=("--batchnorm/--no-batchnorm",))
    decoder: tuple[int, ...] | None = opt(None, "EfficientNet U-Nets: decoder channels at strides 16,8,4,2 "
                                                "(default 128,64,32,16)", flags=("--decoder-channels",),
                                          cli_type=str | None, parse=_decoder)
    size: tuple[int, int] | None = opt(None, "training crop HxW (default: the arch's recipe)", cli_type=str | None,
                                       parse=parse_size)
    epochs: int | None = opt(None, "default: the arch's recipe", min=1)
    batch: int | None = opt(None, "default: the arch's recipe", min=1)
    lr: float | None = opt(None, "peak learning rate (default: the arch's recipe)", above=0)
    encoder_lr_scale: float | None = opt(None, "pretrained encoder's learning rate as a share of --lr", min=0)
    weight_decay: float = opt(1e-4, "AdamW decay; never applied to norms and biases", min=0)
    class_weights: str | None = opt(None, "none | median (SegNet median-frequency)", choices=CLASS_WEIGHTS)
    loss: str | None = opt(None, "ce | ce+dice | ce+lovasz | ohem (hard-pixel mining)", choices=LOSSES)
    logit_adjust: float | None = opt(None, "share (0-1) of the class weights' push toward rare classes taken back "
                                           "from the saved model's class-head bias (default: the recipe's)", min=0,
                                     max=1)
    scale: tuple[float, float] | None = opt(None, "random rescale range LO,HI of each frame before the crop "
                                                  "(default: the recipe's)", cli_type=str | None, parse=_scale)
    rare_crop: float | None = opt(None, "share (0-1) of crops placed over a pixel of a rarer-than-median class "
                                        "(default: the recipe's)", min=0, max=1)
    ema: float | None = opt(None, "weight EMA decay, saved as the model; 0: off")
    holdout: str | None = opt(None, "file-name prefix held out of train and used as val, e.g. 0006R0 (choose "
                                    "settings on it)")
    # bfloat16 autocast on the CPU: True, False or "auto" (measured: training/speed.py)
    bf16: bool | str | None = opt(None, "bfloat16 autocast on the CPU (default: the recipe's; auto for EfficientNet "
                                        "where the CPU has bf16 instructions)", flags=("--bf16/--no-bf16",),
                                  cli_type=bool | None)
    channels_last: bool | None = None  # the step's memory format; None: channels_last on the CPU for built-in archs
    val_at_frame_size: bool | None = None  # validate at the frames' own size rather than the crop size
    jitter: float = 0.25
    workers: int = opt(-1, "loader workers per process (-1: auto)", min=-1)
    out: str = opt("runs/train", "run folder for best.pt, last.pt, curve.png", cli_type=Path, parse=str)
    resume: bool = opt(False, "continue OUT/last.pt")
    overwrite: bool = opt(False, "replace an earlier run in --out (its best.pt and last.pt are rewritten from the "
                                 "first epoch); without it a run folder that holds one is refused")
    seed: int = opt(0)
    device: str = opt("auto", "auto | cpu | cuda")
    amp: bool = opt(True, "mixed precision on CUDA")
    num_classes: int | None = opt(None, "CARLA: class count (default: read labels)", min=1)
    val_fraction: float = opt(0.1, "held-out share where the layout has no split (at most half)", above=0, max=0.5)
    max_steps: int | None = opt(None, "cap steps per epoch (smoke runs)", min=1)
    time: float | None = opt(None, "minutes to train: the epoch count is fitted to it from the epochs' mean time, "
                                   "after every epoch (overrides --epochs)", above=0)
    mean: tuple[float, float, float] | None = None  # input scaling: the architecture's own when None
    std: tuple[float, float, float] | None = None
    # A model of the user's own (--model-class MODULE:NAME, a class or factory) instead of ``arch``: its
    # kwargs, the folders its code is imported from, and its input contract (IOContract.to_json; RGB,
    # ImageNet scaling, NCHW when None), whose normalisation becomes ``mean``/``std``.
    model_class: str | None = None
    model_kwargs: dict | None = None
    python_path: tuple[str, ...] = ()
    contract: dict | None = None
    pretrained_weights: str | None = opt(None, "a state dict to start from (.pt/.pth/.safetensors, or a best.pt)",
                                         cli_type=Path | None, parse=str)  # any model

    def __post_init__(self) -> None:
        from unet_edge.models import available, has_pretrained, input_normalization
        from unet_edge.training.recipes import recipe

        if self.model_class:
            self._foreign()
        else:
            self.arch = self.arch or DEFAULT_ARCH
            if self.arch not in available():
                raise ConfigError(f"unknown architecture '{self.arch}'; choose one of: {', '.join(available())}")
        for key, value in recipe(self.arch).items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.pretrained and (self.model_class or not has_pretrained(self.arch)):
            raise ConfigError(f"--pretrained: architecture '{self.arch}' has no pretrained encoder"
                              + ("; start from a state dict with --pretrained-weights FILE" if self.model_class
                                 else ""))
        if self.pretrained_weights and not Path(self.pretrained_weights).is_file():
            raise ConfigError(f"--pretrained-weights {self.pretrained_weights}: file not found")
        if self.decoder is not None:
            if self.model_class or not has_pretrained(self.arch):
                raise ConfigError(f"--decoder-channels: architecture '{self.arch}' has no EfficientNet decoder; "
                                  "use --width")
            if len(self.decoder) != 4 or min(self.decoder) < 1:
                raise ConfigError("--decoder-channels takes 4 positive counts, for strides 16, 8, 4 and 2")
            self.decoder = tuple(int(c) for c in self.decoder)
        if self.bf16 == "auto" and not cpu_has_bf16():
            self.bf16 = False  # otherwise the trainer times both (training/speed.py)
        if self.model_class:
            from unet_edge.models.contract import IOContract

            contract = IOContract.from_json(self.contract) if self.contract else IOContract()
            # exactly what export's deploy graph applies; the contract, not ``mean``/``std``, says it
            self.mean, self.std = contract.unit_mean, contract.unit_std
        else:
            mean, std = input_normalization(self.arch)
            self.mean, self.std = tuple(self.mean or mean), tuple(self.std or std)
        self.size, self.scale = tuple(self.size), tuple(self.scale)
        check_config(self)  # the fields' bounds and choices, the recipe's values included
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ConfigError(f"--scale {self.scale[0]:g},{self.scale[1]:g}: a range LO,HI with 0 < LO <= HI")
        if not 0 <= self.ema < 1:  # a bound open above, which opt() does not declare
            raise ConfigError(f"--ema {self.ema:g}: a decay in [0, 1) (0 turns it off)")
        if not Path(self.data).exists():
            raise ConfigError(f"{self.data}: dataset folder not found")

    def _foreign(self) -> None:
        """Checks and settles the fields of a ``--model-class`` run."""
        if self.arch and self.arch != FOREIGN + self.model_class:
            raise ConfigError("--arch and --model-class both name the model: pass one of them")
        given = [name for name, value in (("--width", self.width), ("--batchnorm", self.batchnorm))
                 if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: options of the built-in U-Nets; give the model's own options "
                              "in --model-kwargs")
        self.arch = FOREIGN + self.model_class
        self.model_kwargs = dict(self.model_kwargs or {})
        # Recorded resolved, with the working directory the code was imported from, so that export, eval
        # and bench import it from any other directory.
        dirs = [str(Path(p).resolve()) for p in [*self.python_path, "."]]
        self.python_path = tuple(dict.fromkeys(dirs))

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's own test); elsewhere bf16 autocast is slower."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False
