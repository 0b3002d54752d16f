"""Fleet commands: label a fleet's recordings on Ray Data."""

from __future__ import annotations

import typer

from unet_edge.cli.bind import bind
from unet_edge.fleet.config import LabelConfig


@bind(LabelConfig, into="cfg")
def label(cfg: LabelConfig | None = None) -> None:
    """Label every video of a folder, glob or list into class-map PNGs (run --save-masks' format), on Ray.

    With no --ray-address a local Ray starts inside the command on this box's cores; --ray-address runs
    the same job on a Ray cluster. A rerun skips the videos already done."""
    from unet_edge.fleet.label import label_fleet

    label_fleet(cfg, log=typer.echo)
