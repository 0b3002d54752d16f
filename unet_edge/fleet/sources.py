"""What ``label --source`` names, as one job per video or image folder, each with the folder under --out
that its labels go to. Read on the driver before anything runs; nothing here imports Ray.

- a folder: every video under it (any depth; hidden entries skipped) and every folder that holds images;
- a glob (``**`` recurses): the videos and folders it matches, and the images it matches, by folder;
- a ``LIST.txt``: one video or folder a line, relative to the list's folder (``#`` starts a comment);
- a video file.

A job's name is its path relative to the folder the source is rooted at (the folder itself, the glob's
fixed part, the list's folder), kept with its suffix (``a.mp4`` and ``a.avi`` are two videos); a path
outside that folder keeps its whole path. Two jobs of one name are refused: they would share a folder.
"""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from unet_edge.core.errors import ConfigError
from unet_edge.core.media import IMAGE_EXTS, is_image

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".wmv",
              ".flv", ".3gp", ".h264", ".h265", ".hevc")
LIST_EXTS = (".txt", ".lst")


@dataclass(frozen=True)
class Job:
    """One video (``kind="video"``) or image folder (``kind="images"``, its images in name order) to label."""

    name: str  # the folder under --out, posix-style: "drives/day1.mp4"
    path: str  # the video file or image folder, absolute
    kind: str
    files: tuple[str, ...] = ()  # an image job's images, absolute, in the order run reads them


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video by its suffix (any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def _name(path: Path, root: Path) -> str:
    """``path`` relative to ``root``; outside it, its whole path without the anchor."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(*path.parts[1:]) if path.is_absolute() else path
    text = PurePosixPath(*rel.parts).as_posix()
    return path.name if text in ("", ".") else text


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _walk(folder: Path, root: Path) -> list[Job]:
    """Every video under ``folder`` and every folder of images, depth first in name order."""
    jobs = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        here_path = Path(here)
        names = sorted(f for f in files if _visible(f))
        images = tuple(str(here_path / f) for f in names if is_image(f))
        if images:
            jobs.append(Job(_name(here_path, root), str(here_path), "images", images))
        jobs += [Job(_name(here_path / f, root), str(here_path / f), "video") for f in names if is_video(f)]
    return jobs


def _images_by_folder(paths: Iterable[Path], root: Path) -> list[Job]:
    groups: dict[Path, list[str]] = {}
    for p in paths:
        groups.setdefault(p.parent, []).append(str(p))
    return [Job(_name(folder, root), str(folder), "images", tuple(sorted(files))) for folder, files in groups.items()]


def _expand(path: Path, root: Path, option: str) -> list[Job]:
    """The jobs of one file or folder named by a glob or a list."""
    if path.is_dir():
        return _walk(path, root)
    if is_video(path):
        return [Job(_name(path, root), str(path), "video")]
    if is_image(path):
        return _images_by_folder([path], root)
    raise ConfigError(f"{option}: {path} is not a video ({', '.join(VIDEO_EXTS)}), a folder or an image")


def glob_root(pattern: str) -> Path:
    """The folder before a glob's first wildcard: the names of its matches start there."""
    fixed = []
    for part in Path(os.path.expanduser(pattern)).parts:  # as _from_glob expands it
        if _glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed).resolve() if fixed else Path.cwd()


def _from_glob(pattern: str) -> list[Job]:
    root = glob_root(pattern)
    matches = [Path(m).resolve() for m in sorted(_glob.glob(os.path.expanduser(pattern), recursive=True))]
    images = [m for m in matches if m.is_file() and is_image(m)]
    jobs = _images_by_folder(images, root)
    for m in matches:
        if m.is_dir() or is_video(m):
            jobs += _expand(m, root, f"--source {pattern}")
    return jobs


def _from_list(listing: Path, option: str) -> list[Job]:
    root = listing.parent
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{option}: cannot read it as a list of videos ({exc})") from exc
    jobs = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        path = (root / os.path.expanduser(entry)).resolve()
        if not path.exists():
            raise ConfigError(f"{option} line {number}: {entry}: no such file or folder")
        jobs += _expand(path, root, f"{option} line {number}")
    return jobs


def source_jobs(source: str) -> list[Job]:
    """The jobs of one ``--source`` value (refused in one line when it names nothing to label)."""
    option = f"--source {source}"
    if "://" in source:
        raise ConfigError(f"{option}: label reads videos and folders on a path every worker sees (a local or "
                          "shared folder); a stream or URL is for unet-edge run")
    path = Path(os.path.expanduser(source))
    if _glob.has_magic(source) and not path.exists():
        jobs = _from_glob(source)
        if not jobs:
            raise ConfigError(f"{option}: the glob matches no video, folder or image")
        return jobs
    if not path.exists():
        raise ConfigError(f"{option}: no such file or folder")
    path = path.resolve()
    if path.is_file() and path.suffix.lower() in LIST_EXTS:
        jobs = _from_list(path, option)
    elif path.is_dir():
        jobs = _walk(path, path)  # its own images, if any, are named by the folder's name
    elif is_video(path):
        jobs = [Job(path.name, str(path), "video")]
    else:
        raise ConfigError(f"{option}: not a video ({', '.join(VIDEO_EXTS)}), a folder, a glob or a LIST.txt")
    if not jobs:
        raise ConfigError(f"{option}: holds no video ({', '.join(VIDEO_EXTS)}) and no folder of images "
                          f"({', '.join(IMAGE_EXTS)})")
    return jobs


def list_jobs(sources: Iterable[str]) -> list[Job]:
    """Every job of every ``--source``, each name once."""
    jobs: list[Job] = []
    seen: dict[str, Job] = {}
    paths: set[tuple[str, tuple[str, ...]]] = set()
    for source in sources:
        for job in source_jobs(str(source)):
            if (job.path, job.files) in paths:
                continue  # named twice (by a folder and a list): labelled once, under its first name
            if job.name in seen:
                raise ConfigError(f"--source: {seen[job.name].path} and {job.path} would both be labelled in "
                                  f"--out's {job.name}/; label them in separate runs, or list them from a common "
                                  "folder")
            seen[job.name] = job
            paths.add((job.path, job.files))
            jobs.append(job)
    return jobs
