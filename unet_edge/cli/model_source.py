"""The options that describe a model unet-edge did not train (its code, weights and input/output
contract), shared by the commands that take a MODEL, and the ForeignSpec they give."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

# The options every command that takes a MODEL shares (export, eval, bench; train a subset), in one panel.
PANEL = "Your own model"
ModelClass = Annotated[str | None, typer.Option(
    help="MODULE:NAME, the class or factory of your model (imported with the current folder and --python-path on "
         "sys.path); MODEL is then its state dict", rich_help_panel=PANEL)]
ModelKwargs = Annotated[str | None, typer.Option(help="--model-class's arguments as a JSON object",
                                                 rich_help_panel=PANEL)]
PythonPath = Annotated[list[Path] | None, typer.Option(help="a folder put on sys.path (repeatable)",
                                                       rich_help_panel=PANEL)]
TrustPickle = Annotated[bool, typer.Option(help="load a pickled whole model (torch.save(model)): runs code from the "
                                                "file", rich_help_panel=PANEL)]
Rgb = Annotated[bool | None, typer.Option("--rgb/--bgr", help="the colour order the model expects (default: rgb)",
                                          rich_help_panel=PANEL, show_default=False)]
InputNorm = Annotated[str | None, typer.Option(help="its input scaling: imagenet | unit ([0, 1]) | signed ([-1, 1]) | "
                                                    "none (default: imagenet)", rich_help_panel=PANEL)]
Mean = Annotated[str | None, typer.Option(help="R,G,B mean on the 0-255 scale (instead of --input-norm)",
                                          rich_help_panel=PANEL)]
Std = Annotated[str | None, typer.Option(help="R,G,B std on the 0-255 scale", rich_help_panel=PANEL)]
InputLayout = Annotated[str | None, typer.Option(help="nchw | nhwc (default: nchw)", rich_help_panel=PANEL)]
MultipleOf = Annotated[int | None, typer.Option(help="pad the input to a multiple of N (cropped back)",
                                                rich_help_panel=PANEL)]
Output = Annotated[str | None, typer.Option(help="the output holding the logits or class ids: a name, dict key or "
                                                 "tuple index", rich_help_panel=PANEL)]
Classes = Annotated[str | None, typer.Option(help="camvid | cityscapes | carla | FILE.json (a list of names, "
                                                  "optionally with colours)", rich_help_panel=PANEL)]
Like = Annotated[Path | None, typer.Option(
    help="an earlier artifact (.onnx or its .json): the class, kwargs, code folders and input contract it records "
         "(options given here override them)", rich_help_panel=PANEL)]


# name -> (annotation, default), in the order --help lists them
_OPTIONS = {"model_class": (ModelClass, None), "model_kwargs": (ModelKwargs, None), "python_path": (PythonPath, None),
            "trust_pickle": (TrustPickle, False), "rgb": (Rgb, None), "input_norm": (InputNorm, None),
            "mean": (Mean, None), "std": (Std, None), "input_layout": (InputLayout, None),
            "multiple_of": (MultipleOf, None), "output": (Output, None), "classes": (Classes, None),
            "like": (Like, None)}


def model_options(*, without: Sequence[str] = ()) -> Callable[[Callable], Callable]:
    """Give a typer command the 'Your own model' options (less ``without``); they reach it as one dict,
    its ``own_model`` argument, ready for :func:`foreign_spec`. Written once here rather than
    repeated in every command's signature."""
    names = [n for n in _OPTIONS if n not in without]

    def decorate(command: Callable) -> Callable:
        sig = inspect.signature(command, eval_str=True)
        params = [p for p in sig.parameters.values() if p.name != "own_model"]
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=_OPTIONS[n][1],
                                     annotation=_OPTIONS[n][0]) for n in names]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            own = {n: kwargs.pop(n, _OPTIONS[n][1]) for n in names}
            return command(*args, own_model=own, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)  # what typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # or inspect would read the undecorated signature again
        return wrapper

    return decorate

def foreign_spec(*, model_class: str | None = None, model_kwargs: str | None = None,
                 python_path: Sequence[Path] | None = None, trust_pickle: bool = False, rgb: bool | None = None,
                 input_norm: str | None = None, mean: str | None = None, std: str | None = None,
                 input_layout: str | None = None, size: str | None = None, multiple_of: int | None = None,
                 output: str | None = None, classes: str | None = None, like: Path | None = None):
    """The ForeignSpec the options give, or None where none of them was given (a ``unet-edge train``
    checkpoint, which records all of it). ``size`` only counts together with another option.
    ``like`` starts from what an earlier artifact records."""
    from unet_edge.models.contract import ContractOptions, IOContract, contract_from_options
    from unet_edge.models.foreign import ForeignSpec, parse_kwargs

    given = [model_class, model_kwargs, python_path or None, trust_pickle or None, rgb, input_norm, mean, std,
             input_layout, multiple_of, output, classes, like]
    if all(v is None for v in given):
        return None
    source, base = recorded_model(like) if like is not None else ({}, None)
    given = ContractOptions(rgb, input_norm, mean, std, input_layout, size, multiple_of, output, None, classes)
    contract = contract_from_options(given, IOContract.from_json(base) if base else None)
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
