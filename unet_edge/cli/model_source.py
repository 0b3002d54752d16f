"""The options that describe a model unet-edge did not train (its code, weights and input/output
contract), shared by the commands that take a MODEL, and the ForeignSpec they give."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unet_edge.cli.bind import bind
from unet_edge.core.options import opt

# The options every command that takes a MODEL shares (export, eval, bench; train a subset), in one panel.
PANEL = "Your own model"


@dataclass
class OwnModel:
    """The options that describe a model unet-edge did not train, as the command line gives them."""

    model_class: str | None = opt(None, "MODULE:NAME, the class or factory of your model (imported with the current "
                                        "folder and --python-path on sys.path); MODEL is then its state dict",
                                  panel=PANEL)
    model_kwargs: str | None = opt(None, "--model-class's arguments as a JSON object", panel=PANEL)
    python_path: list[Path] | None = opt(None, "a folder put on sys.path (repeatable)", panel=PANEL)
    trust_pickle: bool = opt(False, "load a pickled whole model (torch.save(model)): runs code from the file",
                             panel=PANEL)
    rgb: bool | None = opt(None, "the colour order the model expects (required unless the model states it)",
                           flags=("--rgb/--bgr",), panel=PANEL, show_default=False)
    input_norm: str | None = opt(None, "its input scaling: imagenet | unit ([0, 1]) | signed ([-1, 1]) | none "
                                       "(required unless the model states it)", panel=PANEL,
                                 choices=("imagenet", "unit", "signed", "none"))  # models.contract.NORM_PRESETS
    mean: str | None = opt(None, "R,G,B mean on the 0-255 scale (instead of --input-norm)", panel=PANEL)
    std: str | None = opt(None, "R,G,B std on the 0-255 scale", panel=PANEL)
    input_layout: str | None = opt(None, "nchw | nhwc (default: nchw)", panel=PANEL, choices=("nchw", "nhwc"))
    multiple_of: int | None = opt(None, "pad the input to a multiple of N (cropped back)", panel=PANEL, min=1)
    output: str | None = opt(None, "the output holding the logits or class ids: a name, dict key or tuple index",
                             panel=PANEL)
    classes: str | None = opt(None, "camvid | cityscapes | carla | FILE.json (a list of names, optionally with "
                                    "colours)", panel=PANEL)
    like: Path | None = opt(None, "an earlier artifact (.onnx or its .json): the class, kwargs, code folders and "
                                  "input contract it records (options given here override them)", panel=PANEL)


def model_options(*, without: Sequence[str] = ()) -> Callable[[Callable], Callable]:
    """Give a typer command the 'Your own model' options (less ``without``); they reach it as one dict,
    its ``own_model`` argument, ready for :func:`foreign_spec`."""
    return bind(OwnModel, into="own_model", without=without, build=False)


def foreign_spec(*, model_class: str | None = None, model_kwargs: str | None = None,
                 python_path: Sequence[Path] | None = None, trust_pickle: bool = False, rgb: bool | None = None,
                 input_norm: str | None = None, mean: str | None = None, std: str | None = None,
                 input_layout: str | None = None, size: str | None = None, multiple_of: int | None = None,
                 output: str | None = None, classes: str | None = None, like: Path | None = None):
    """The ForeignSpec the options give, or None where none of them was given (a ``unet-edge train``
    checkpoint, which records all of it). ``size`` only counts together with another option.
    ``like`` starts from what an earlier artifact records."""
    from dataclasses import replace

    from unet_edge.models.contract import ContractOptions, IOContract, contract_from_options
    from unet_edge.models.foreign import ForeignSpec, parse_kwargs

    given = [model_class, model_kwargs, python_path or None, trust_pickle or None, rgb, input_norm, mean, std,
             input_layout, multiple_of, output, classes, like]
    if all(v is None for v in given):
        return None
    source, base = recorded_model(like) if like is not None else ({}, None)
    given = ContractOptions(rgb, input_norm, mean, std, input_layout, size, multiple_of, output, None, classes)
    if base:  # each value the earlier artifact recorded now comes from it
        recorded = IOContract.from_json(base)
        base = replace(recorded, origin=dict.fromkeys(recorded.origin, f"--like {Path(like).name}"))
    contract = contract_from_options(given, base)
    kwargs = parse_kwargs(model_kwargs) if model_kwargs is not None else dict(source.get("kwargs") or {})
    paths = tuple(str(p) for p in python_path) if python_path else tuple(source.get("python_path") or ())
    return ForeignSpec(model_class or source.get("class"), kwargs, paths, trust_pickle, contract)


def recorded_model(artifact: Path) -> tuple[dict, dict]:
    """(model_source, contract) that an artifact's sidecar, or the metadata inside its ``.onnx``, records."""
    import json

    from unet_edge.core.artifact import ONNX_KEY, sidecar_path
    from unet_edge.core.errors import ConfigError
    from unet_edge.core.onnx_props import metadata_props

    artifact = Path(artifact)
    side = artifact if artifact.suffix == ".json" else sidecar_path(artifact)
    try:
        data = json.loads(side.read_text() if side.is_file() else metadata_props(artifact).get(ONNX_KEY, "{}"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--like {artifact}: not an artifact of unet-edge export ({exc})") from exc
    if not isinstance(data, dict) or not data.get("contract"):
        raise ConfigError(f"--like {artifact}: records no model contract (it is not the export of a model unet-edge "
                          "did not train, nor of a --model-class checkpoint)")
    return dict(data.get("model_source") or {}), data["contract"]
