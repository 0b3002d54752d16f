"""Parsing of the small values every command shares (sizes, ranges), with one-line errors."""

from __future__ import annotations

from unet_edge.core.errors import ConfigError


def parse_size(text: str) -> tuple[int, int]:
    """Parse 'HxW' (or a single number for a square) into (H, W)."""
    try:
        parts = [int(p) for p in text.lower().replace("*", "x").split("x")]
    except ValueError as exc:
        raise ConfigError(f"size '{text}' must look like HxW, e.g. 360x480") from exc
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 16:
        raise ConfigError(f"size '{text}' must be HxW with both sides at least 16")
    return parts[0], parts[1]


def parse_range(text: str, option: str) -> tuple[float, float]:
    """Parse 'LO,HI' into two floats."""
    try:
        lo, hi = (float(p) for p in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{option} '{text}' must look like LO,HI, e.g. 0.75,1.5") from exc
    return lo, hi


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """Parse 'A,B,C' into integers."""
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{option} '{text}' must be integers separated by commas, e.g. 128,64,32,16") from exc
