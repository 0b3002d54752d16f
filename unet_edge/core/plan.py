"""A command's plan, checked before its first write: inputs are read-only, so no output may be an
input, hold one, or lie inside one. Paths are compared resolved (symlinks followed), so a link to
the source folder is the source folder.

Each command lists what it reads and what it writes, by the option that names it::

    check_disjoint({"--source": src, "--model": model}, {"--save-masks": masks})

and every conflict is one ConfigError line that names both options and both paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from unet_edge.core.errors import ConfigError

PathLike = str | os.PathLike


def _resolved(path: PathLike) -> Path:
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def _each(named: Mapping[str, PathLike | Iterable[PathLike] | None]) -> list[tuple[str, Path, Path]]:
    """(option, path as given, resolved) for every path; an option may name several, or None."""
    out = []
    for option, value in named.items():
        if value is None:
            continue
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        out += [(option, Path(v), _resolved(v)) for v in values if v is not None and str(v) != ""]
    return out


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_disjoint(inputs: Mapping[str, PathLike | Iterable[PathLike] | None],
                   outputs: Mapping[str, PathLike | Iterable[PathLike] | None]) -> None:
    """Refuse an output that is an input, contains one, or lies inside one; or two outputs that are
    the same path or one inside the other."""
    ins, outs = _each(inputs), _each(outputs)
    for o_opt, o_given, o in outs:
        for i_opt, i_given, i in ins:
            if o == i:
                why = "is the input"
            elif _inside(i, o):
                why = "contains the input"
            elif _inside(o, i):
                why = "lies inside the input"
            else:
                continue
            raise ConfigError(f"{o_opt} {o_given} {why} {i_opt} {i_given}: inputs are never written; "
                              "choose another output")
    for k, (a_opt, a_given, a) in enumerate(outs):
        for b_opt, b_given, b in outs[k + 1:]:
            if _inside(a, b) or _inside(b, a):
                raise ConfigError(f"{a_opt} {a_given} and {b_opt} {b_given} would write over each other; "
                                  "give each output its own place")


def local_paths(uris: Iterable[str | os.PathLike]) -> list[Path]:
    """The sources among ``uris`` that are files or folders on this machine (not cameras, URLs or
    pipelines), for ``check_disjoint``; a glob is its folder."""
    out = []
    for uri in uris:
        text = os.fspath(uri)
        if "://" in text or text.isdigit() or "!" in text:
            continue
        if any(ch in text for ch in "*?["):
            out.append(Path(text).parent)
        elif Path(text).exists():
            out.append(Path(text))
    return out
