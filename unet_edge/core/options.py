"""Options declared once: a config dataclass field carries its default and its command-line help.

``unet_edge.cli.bind`` turns such a dataclass into a typer command's options, so a command's
signature is never copied by hand into its config. Plain Python: no typer below the CLI layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not given" where None is a value


@dataclasses.dataclass(frozen=True)
class Cli:
    """How a config field appears on the command line."""

    help: str = ""
    flags: tuple[str, ...] = ()  # typer's spellings, e.g. ("--json",) or ("--verify/--no-verify",); () from the name
    panel: str | None = None  # --help's panel
    cli_type: Any = None  # the type typer parses when it differs from the field's (e.g. str for an HxW size)
    parse: Callable[[Any], Any] | None = None  # the command-line value -> the field's value (not applied to None)
    shown: Any = UNSET  # the command-line default where it differs from the field's (e.g. points, not fractions)
    show_default: bool = True
    hidden: bool = False


def opt(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
        **cli: Any) -> Any:
    """A dataclass field with its command-line face; ``cli`` are :class:`Cli`'s other fields."""
    meta = {"cli": Cli(help=help, **cli)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def cli_fields(config: type) -> list[tuple[dataclasses.Field, Cli]]:
    """The fields of ``config`` that the command line sets, in declaration order."""
    return [(f, f.metadata["cli"]) for f in dataclasses.fields(config) if "cli" in f.metadata]


# Help shared by several commands' configs.
PROVIDER_HELP = ("ONNX Runtime execution provider: cpu | cuda | tensorrt; or openvino (an .onnx through OpenVINO, "
                 "with --device and --precision)")
# OpenVINO's device and inference precision (--provider openvino); never OpenVINO's own default precision.
OV_DEVICE_HELP = "OpenVINO device: CPU (default) | GPU | NPU | AUTO, where OpenVINO reports it"
OV_PRECISION_HELP = ("OpenVINO inference precision: f32 | bf16 (AMX or AVX512-BF16 CPUs); default: bf16 where the "
                     "model's export verified it and the CPU has it, else f32")
