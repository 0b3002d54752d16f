"""The typer app: every command registered on it from the command modules, which never import this one."""

from __future__ import annotations

import typer

from unet_edge.cli import deploy_commands, fleet_commands, model_commands, tool_commands

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, export and stream U-Net semantic segmentation on the edge.")

# The order of the help listing: the pipeline from data to deployment, then the tools.
COMMANDS = (
    ("synth", model_commands.synth), ("train", model_commands.train), ("eval", model_commands.evaluate),
    ("export", deploy_commands.export), ("build", deploy_commands.build), ("run", deploy_commands.run),
    ("label", fleet_commands.label),
    ("bench", tool_commands.bench), ("serve", tool_commands.serve), ("demo", model_commands.demo),
    ("doctor", tool_commands.doctor),
)
for name, fn in COMMANDS:
    app.command(name)(fn)
