"""Models that ship inside the package (``--model camvid-lite0``), and where what is derived from them
goes: an installed package may be read-only and is replaced on upgrade, so engines, caches and bench
artifacts of a shipped model go to the user cache folder, never beside the installed file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from unet_edge.core.errors import ConfigError
from unet_edge.core.io import user_cache

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped"
# name -> file in SHIPPED_DIR; each has a model card NAME.md beside it
SHIPPED = {"camvid-lite0": "camvid-lite0.onnx"}


def resolve_model(model: str | Path, log: Callable[[str], None] | None = None, option: str = "--model") -> Path:
    """``model`` as a path: an existing file (or folder) always wins; else a shipped model's name is its
    installed file (and ``log`` says so); anything else is one line, naming ``option``, that lists the
    shipped names."""
    path = Path(model)
    if path.exists():
        return path
    if str(model) not in SHIPPED:
        raise ConfigError(not_found(str(model), option))
    shipped = SHIPPED_DIR / SHIPPED[str(model)]
    if not shipped.is_file():
        raise ConfigError(f"{model}: the shipped model is missing from this install ({shipped}); reinstall "
                          "unet-edge, or rebuild it with 'make camvid-lite0'")
    if log is not None:
        log(f"{model}: the shipped model {shipped}")
    return shipped


def not_found(model: str, option: str = "--model") -> str:
    """The message for a MODEL that is neither a file nor a shipped name: the closest name, then them all."""
    import difflib

    close = difflib.get_close_matches(model, SHIPPED, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return (f"{option} {model}: model file not found, and not the name of a shipped model; {hint}shipped: "
            f"{', '.join(SHIPPED)}")


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is a file of the installed package's shipped models."""
    try:
        return Path(path).resolve().parent == SHIPPED_DIR
    except OSError:
        return False


def derived_dir(path: str | Path) -> Path:
    """Where files derived from the model at ``path`` go: beside it, or in the user cache for a shipped one."""
    path = Path(path)
    return user_cache() / "shipped" / path.stem if is_shipped(path) else path.parent
