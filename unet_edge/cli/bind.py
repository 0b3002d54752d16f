"""Bind a typer command to a config dataclass whose fields declare their options (core/options.py).

The command keeps its own arguments and receives the config, built and parsed, as one keyword
argument: each option is written once, in the config, with its default and help.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from unet_edge.core.options import UNSET, check, cli_fields


def bind(config: type, *, into: str = "opts", without: Sequence[str] = (), build: bool = True,
         ) -> Callable[[Callable], Callable]:
    """Give a command ``config``'s options (less ``without``); it receives them as ``into``: the config
    itself, or with ``build=False`` a dict of the parsed values (for configs that need the command's
    other arguments too)."""
    hints = typing.get_type_hints(config, include_extras=True)
    fields = [(f, c) for f, c in cli_fields(config) if f.name not in without]

    def decorate(command: Callable) -> Callable:
        sig = inspect.signature(command, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != into]
        taken = {p.name for p in own}
        clash = taken & {f.name for f, _ in fields}
        if clash:
            raise TypeError(f"{command.__name__}: {sorted(clash)} are both arguments and {config.__name__} fields")
        params = own + [_parameter(f, c, hints[f.name]) for f, c in fields]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {}
            for f, c in fields:
                value = kwargs.pop(f.name, _default(f, c))
                values[f.name] = c.parse(value) if c.parse is not None and value is not None else value
            check(config, values)  # bounds, choices and "needs": before the command does anything
            return command(*args, **{into: config(**values) if build else values}, **kwargs)

        wrapper.__signature__ = inspect.Signature(params, return_annotation=sig.return_annotation)  # typer reads it
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # or inspect would read the undecorated signature again
        return wrapper

    return decorate


def _default(f: dataclasses.Field, c) -> Any:
    if c.shown is not UNSET:
        return c.shown
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return ...  # required


def _parameter(f: dataclasses.Field, c, hint: Any) -> inspect.Parameter:
    kind = c.cli_type if c.cli_type is not None else hint
    option = typer.Option(*c.flags, help=c.help, rich_help_panel=c.panel, show_default=c.show_default,
                          hidden=c.hidden)
    default = _default(f, c)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                             default=inspect.Parameter.empty if default is ... else default,
                             annotation=Annotated[kind, option])
