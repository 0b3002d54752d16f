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
    # Checked for every value the field takes (core.options.check), before a command does anything:
    min: float | None = None  # inclusive lower bound of a number (None: no bound)
    max: float | None = None  # inclusive upper bound
    above: float | None = None  # exclusive lower bound (a length of time, a rate)
    choices: tuple[str, ...] | None = None  # the values a text option may take
    needs: str | None = None  # another field that must be given (not None/False) for this one to be


def flag(f: dataclasses.Field, c: Cli | None = None) -> str:
    """The option as a user types it: ``--save-masks``."""
    c = c if c is not None else f.metadata.get("cli", Cli())
    return c.flags[0].split("/")[0] if c.flags else "--" + f.name.replace("_", "-")


def _given(value: Any) -> bool:
    return value is not None and value is not False and value is not UNSET


def _bad(c: Cli, value: Any) -> str | None:
    """Why ``value`` is outside ``c``'s bounds or choices, or None."""
    if c.choices is not None and value not in c.choices:
        return f"choose one of {', '.join(c.choices)}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if value != value:  # NaN passes every comparison
        return "give a number"
    lo, hi = c.min, c.max
    if c.above is not None and not value > c.above:
        return f"must be above {c.above:g}" + (f" and at most {hi:g}" if hi is not None else "")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return (f"must be from {lo:g} to {hi:g}" if lo is not None and hi is not None else
                f"must be at least {lo:g}" if lo is not None else f"must be at most {hi:g}")
    return None


def _shown(value: Any) -> str:
    """A value as the user typed it: 5, not 5.0."""
    return f"{value:g}" if isinstance(value, float) else "" if value is True else str(value)


def check(config: type, values: dict[str, Any]) -> None:
    """Refuse, in one ConfigError line naming the option and the value, a value outside its field's
    bounds or choices, or a field given without the one it needs. ``values``: field name -> value
    (a list's items are each checked)."""
    from unet_edge.core.errors import ConfigError

    fields = {f.name: (f, c) for f, c in cli_fields(config)}
    for name, value in values.items():
        if name not in fields or value is None or value is UNSET:
            continue
        f, c = fields[name]
        items = value if isinstance(value, (list, tuple)) and c.choices is not None else [value]
        for item in items:
            why = _bad(c, item)
            if why:
                raise ConfigError(f"{flag(f, c)} {_shown(item)}: {why}")
        if c.needs is not None and _given(value) and value != f.default and not _given(values.get(c.needs)):
            raise ConfigError(f"{flag(f, c)} {_shown(value)}: needs {flag(*fields[c.needs])}")


def check_config(config: Any) -> None:
    """:func:`check` on a built config (for library users who skip the command line)."""
    check(type(config), {f.name: getattr(config, f.name) for f, _ in cli_fields(type(config))})


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


# Choices and help shared by several commands' configs.
PROVIDERS = ("cpu", "cuda", "tensorrt", "openvino")  # runtime.runners' ONNX Runtime providers, and OpenVINO
OV_PRECISIONS = ("f32", "bf16")  # OpenVINO's inference precision hints (runtime.runners.openvino.PRECISIONS)
PROVIDER_HELP = ("ONNX Runtime execution provider: cpu | cuda | tensorrt; or openvino (an .onnx through OpenVINO, "
                 "with --device and --precision)")
# OpenVINO's device and inference precision (--provider openvino); never OpenVINO's own default precision.
OV_DEVICE_HELP = "OpenVINO device: CPU (default) | GPU | NPU | AUTO, where OpenVINO reports it"
OV_PRECISION_HELP = ("OpenVINO inference precision: f32 | bf16 (AMX or AVX512-BF16 CPUs); default: bf16 where the "
                     "model's export verified it and the CPU has it, else f32")
