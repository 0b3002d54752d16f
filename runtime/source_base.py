"""The base of every video source, apart so that sources living in modules of their own (ROS 2 bags)
need not import the URI parser that finds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Source:
    """Base: ``read() -> (ok, frame)``; ``live`` sources are read on a newest-frame thread."""

    live = False
    fps = 30.0
    name = "source"

    @property
    def display_name(self) -> str:
        """The name to show others (the live view's page): no local folders, no credentials."""
        return display_name(self.name)

    def open(self) -> None:
        pass

    def read(self) -> tuple[bool, np.ndarray | None]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


def display_name(name: str) -> str:
    """``/home/me/drive.mp4`` -> ``drive.mp4``; ``rtsp://user:pw@cam/1`` -> ``rtsp://cam/1``."""
    from urllib.parse import urlsplit

    if "://" in name:
        parts = urlsplit(name)
        return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() \
            if parts.hostname else name
    if " ! " in name:
        return "GStreamer pipeline"
    return Path(name).name or name
