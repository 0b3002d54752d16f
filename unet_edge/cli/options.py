"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from unet_edge.core.options import OV_DEVICE_HELP, OV_PRECISION_HELP, PROVIDER_HELP

Size = Annotated[str, typer.Option(help="input size HxW, e.g. 360x480")]
Provider = Annotated[str, typer.Option(help=PROVIDER_HELP)]
OpenVINODevice = Annotated[str | None, typer.Option("--device", help=OV_DEVICE_HELP)]
OpenVINOPrecision = Annotated[str | None, typer.Option("--precision", help=OV_PRECISION_HELP)]
