"""Options declared once in a config dataclass and bound to a typer command."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from unet_edge.cli.bind import bind
from unet_edge.core.options import cli_fields, opt
from unet_edge.core.parse import parse_size


@dataclass
class Demo:
    model: Path = opt(help="a model")
    size: tuple[int, int] | None = opt(None, "HxW", cli_type=str | None, parse=parse_size)
    drop: float = opt(0.005, "points", shown=0.5, parse=lambda v: v / 100)
    verify: bool = opt(True, "check", flags=("--verify/--no-verify",))
    internal: int = 3  # no command-line face


def _app(seen: list) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @bind(Demo)
    def cmd(extra: int = 1, opts: Demo | None = None) -> None:
        seen.append((extra, opts))

    @app.command()
    def other() -> None:  # a second command keeps typer from collapsing to a single one
        pass

    return app


def test_bound_command_builds_the_config_with_defaults_and_parsing(tmp_path):
    seen: list = []
    res = CliRunner().invoke(_app(seen), ["cmd", "--model", str(tmp_path), "--size", "64x96", "--drop", "2",
                                          "--no-verify", "--extra", "5"])
    assert res.exit_code == 0, res.output
    extra, opts = seen[0]
    assert extra == 5 and opts == Demo(tmp_path, (64, 96), 0.02, False, 3)
    CliRunner().invoke(_app(seen), ["cmd", "--model", "m"])
    assert seen[1][1] == Demo(Path("m"))  # the CLI's default 0.5 points is the field's 0.005


def test_help_shows_the_declared_help_and_required_options():
    res = CliRunner().invoke(_app([]), ["cmd", "--help"], env={"COLUMNS": "200"})
    assert "--no-verify" in res.output and "HxW" in res.output and "--internal" not in res.output
    assert CliRunner().invoke(_app([]), ["cmd"]).exit_code != 0  # --model is required


def test_an_argument_that_is_also_a_field_is_refused():
    with pytest.raises(TypeError, match="both arguments"):
        bind(Demo)(lambda model, opts=None: None)


@pytest.mark.parametrize("config", ["unet_edge.export.exporter:ExportOptions", "unet_edge.runtime.run_config:RunConfig",
                                    "unet_edge.training.config:TrainConfig", "unet_edge.eval_config:EvalConfig",
                                    "unet_edge.cli.model_source:OwnModel"])
def test_every_bound_config_is_complete(config):
    """Each command's config states a help or a default for every option it puts on the command line."""
    import importlib

    module, name = config.split(":")
    cls = getattr(importlib.import_module(module), name)
    fields = cli_fields(cls)
    assert fields
    for f, c in fields:
        assert c.help or f.default is not dataclasses.MISSING, f.name
