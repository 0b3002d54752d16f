"""The options that describe a model unet-edge did not train (its code, weights and input/output
contract), and the export route for each form of MODEL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from unet_edge.core.errors import ConfigError


def foreign_spec(*, model_class: str | None = None, model_kwargs: str | None = None,
                 python_path: Sequence[Path] | None = None, trust_pickle: bool = False, rgb: bool | None = None,
                 input_norm: str | None = None, mean: str | None = None, std: str | None = None,
                 input_layout: str | None = None, size: str | None = None, multiple_of: int | None = None,
                 output: str | None = None, classes: str | None = None):
    """The ForeignSpec the options give, or None where none of them was given (a ``unet-edge train``
    checkpoint, which records all of it). ``size`` only counts together with another option."""
    from unet_edge.models.contract import contract_from_options
    from unet_edge.models.foreign import ForeignSpec, parse_kwargs

    given = [model_class, model_kwargs, python_path or None, trust_pickle or None, rgb, input_norm, mean, std,
             input_layout, multiple_of, output, classes]
    if all(v is None for v in given):
        return None
    contract = contract_from_options(rgb=rgb, input_norm=input_norm, mean=mean, std=std, layout=input_layout,
                                     size=size, multiple_of=multiple_of, output=output, classes=classes)
    return ForeignSpec(model_class, parse_kwargs(model_kwargs), tuple(str(p) for p in python_path or ()),
                       trust_pickle, contract)


def export_model(path: Path, opts, spec, log: Callable[[str], None]) -> dict:
    """Export any MODEL: a foreign ONNX graph by graph surgery, anything else through PyTorch."""
    from unet_edge.export.foreign_export import export_foreign_onnx, is_foreign_onnx

    if is_foreign_onnx(path):
        from unet_edge.models.foreign import ForeignSpec

        spec = spec or ForeignSpec()
        if spec.model_class or spec.model_kwargs or spec.python_path or spec.trust_pickle:
            raise ConfigError(f"{path.name}: an ONNX graph carries its own code: drop --model-class, --model-kwargs, "
                              "--python-path and --trust-pickle")
        return export_foreign_onnx(path, opts, spec.contract, log)
    from unet_edge.export.exporter import export_checkpoint

    return export_checkpoint(path, opts, log=log, spec=spec)
