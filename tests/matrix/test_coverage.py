"""Every option declared with a bound, a choice or a "needs" has a row of the bad-input matrix that
gives it a bad value: a new option cannot skip its check unseen."""

from __future__ import annotations

import pytest

from tests.matrix.test_matrix import ROWS
from unet_edge.core.options import cli_fields, flag


def configs():
    from unet_edge.cli.model_source import OwnModel
    from unet_edge.eval_config import EvalConfig
    from unet_edge.export.exporter import ExportOptions
    from unet_edge.fleet.config import LabelConfig
    from unet_edge.runtime.run_config import RunConfig
    from unet_edge.training.config import TrainConfig

    return {RunConfig: ("run",), EvalConfig: ("eval",), ExportOptions: ("export",), TrainConfig: ("train",),
            OwnModel: ("export", "eval", "bench", "train"), LabelConfig: ("label",)}


def checked_options():
    out = []
    for config, commands in configs().items():
        for f, c in cli_fields(config):
            if any(v is not None for v in (c.min, c.max, c.above, c.choices, c.needs)):
                out.append((config.__name__, commands, flag(f, c)))
    return out


def test_some_options_are_checked():
    assert len(checked_options()) >= 20


@pytest.mark.parametrize("config,commands,option", checked_options(), ids=lambda v: str(v))
def test_each_checked_option_has_a_row(config, commands, option):
    hits = [r.id for r in ROWS if r.argv[0] in commands and option in r.argv]
    assert hits, f"{config} {option}: no row of tests/matrix gives it a bad value"


def click_checked_options():
    """Options that typer declares with a range or a choice (``typer.Option(min=...)``) on commands
    not bound to a config."""
    import typer

    from unet_edge.cli.app import app

    group = typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():
        for p in command.params:
            # typer >= 0.29 keeps min/max on the option itself; older ones in click's IntRange/FloatRange type
            kind = getattr(p, "type", None)
            bounded = any(getattr(x, a, None) is not None for x in (p, kind) for a in ("min", "max"))
            if p.opts[0].startswith("--") and (bounded or hasattr(kind, "choices")):
                out.append((name, p.opts[0]))
    return out


@pytest.mark.parametrize("command,option", click_checked_options() or [("-", "-")], ids=lambda v: str(v))
def test_each_ranged_typer_option_has_a_row(command, option):
    if command == "-":
        pytest.skip("no typer option declares a range")
    hits = [r.id for r in ROWS if r.argv[0] == command and option in r.argv]
    assert hits, f"{command} {option}: no row of tests/matrix gives it a bad value"
