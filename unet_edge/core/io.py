"""Atomic file output: a reader never sees a half-written checkpoint, engine or sidecar."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from unet_edge.core.errors import ConfigError


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is renamed over ``dest``.

    The temporary name keeps ``dest``'s suffix so writers that pick a format by
    extension (OpenCV, torch) behave the same. On error the temporary file is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix or dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)  # mkstemp's 0600 would make shared artifacts unreadable to others
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bytes_atomic(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(dest: str | Path, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``dest`` atomically."""
    write_bytes_atomic(dest, (json.dumps(obj, indent=2) + "\n").encode())


def ensure_empty_dir(path: Path, force: bool) -> None:
    """Create ``path``; refuse to write into a non-empty folder unless ``force``."""
    if path.exists() and any(path.iterdir()) and not force:
        raise ConfigError(f"{path}: folder is not empty; choose another or pass --force")
    path.mkdir(parents=True, exist_ok=True)


def user_cache() -> Path:
    """``$XDG_CACHE_HOME/unet-edge`` (``~/.cache/unet-edge``): caches and what is derived from shipped models."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "unet-edge"
