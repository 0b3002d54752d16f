"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

Size = Annotated[str, typer.Option(help="input size HxW, e.g. 360x480")]
Provider = Annotated[str, typer.Option(help="ONNX Runtime execution provider: cpu | cuda | tensorrt")]
# Spellings of earlier releases, accepted for one more release but not shown in --help.
HiddenDevice = Annotated[str | None, typer.Option("--device", hidden=True, help="old name of --provider")]


def provider_or_alias(provider: str, device: str | None) -> str:
    """``--device`` was the old name of ``--provider``; an explicit old spelling still wins."""
    return device if device is not None else provider
