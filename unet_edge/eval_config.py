"""The options of ``unet-edge eval``, declared once (the CLI is bound to them; --help loads nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unet_edge.core.options import OV_DEVICE_HELP, OV_PRECISION_HELP, OV_PRECISIONS, PROVIDER_HELP, PROVIDERS, opt
from unet_edge.core.parse import parse_size


@dataclass
class EvalConfig:
    """``unet-edge eval``: a MODEL (any form; ``spec`` a models.foreign.ForeignSpec for one unet-edge did not
    train) on a dataset's split, with where the outputs go."""

    model: Path = opt(help="a checkpoint (.pt), an export (.onnx, .engine), or a model trained elsewhere: a state "
                           "dict (with --model-class), a torch.export .pt2, a TorchScript file or a float ONNX graph")
    data: Path = opt(help="dataset root")
    layout: str = opt("camvid", "layout: camvid | carla | folder", flags=("--dataset",),
                      choices=("camvid", "carla", "folder"))
    split: str = opt("val", "val | test | train | all", choices=("val", "test", "train", "all"))
    size: tuple[int, int] | None = opt(None, "override the model input size HxW", cli_type=str | None,
                                       parse=parse_size)
    save_viz: Path | None = opt(None, "PNG grid of image | truth | prediction")
    samples: int = opt(4, "rows in the --save-viz grid", min=1, needs="save_viz")
    json_out: Path | None = opt(None, "write the scores as JSON", flags=("--json",))
    save_masks: Path | None = opt(None, "write each frame's predicted class ids to DIR as a palette PNG named as "
                                        "the image, with DIR/index.jsonl (auto-labelling)")
    val_fraction: float = opt(0.1, "held-out share where the layout has no split", above=0, max=0.9)
    holdout: str | None = opt(None, "score the train frames whose names start with this prefix (as train --holdout)")
    provider: str = opt("cpu", PROVIDER_HELP, choices=PROVIDERS)
    device: str | None = opt(None, OV_DEVICE_HELP, flags=("--device",))  # OpenVINO's
    precision: str | None = opt(None, OV_PRECISION_HELP, flags=("--precision",), choices=OV_PRECISIONS)
    spec: object | None = None
