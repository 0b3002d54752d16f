"""The base install resolves on each target's system numpy without pulling an OpenCV wheel on aarch64.

A Jetson's cv2 is the system's, built for the system's numpy; a requirement above that numpy makes pip
install another one over it and ``import cv2`` fails (issue 52). pip's resolver is asked, for each target,
what it would install with the system numpy held (``-c numpy==X``), for aarch64 wheels only. The project is
not on the registry, so its dependency list from pyproject.toml is resolved, not its name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
# pip's install --dry-run checks Requires-Python against --python-version from 23.3 (pypa/pip#12218); before,
# against the interpreter running pip, which refuses numpy 1.21.5 (<3.11) for a Python 3.10 target.
PIP_MIN = Version("23.3")
# What pip prints when it cannot reach the index (the test then skips rather than fail offline).
OFFLINE = re.compile(r"NewConnectionError|NameResolutionError|Failed to resolve|connection broken by|Max retries "
                     r"exceeded|Temporary failure in name resolution|Network is unreachable|No route to host|"
                     r"Connection refused|ConnectTimeout|ReadTimeout")


@dataclass(frozen=True)
class Target:
    name: str
    python: str
    numpy: str  # the system numpy its cv2 was built for
    glibc: int  # the newest manylinux_2_N wheel it loads


TARGETS = [
    Target("JetPack 6 (Ubuntu 22.04)", "3.10", "1.21.5", 35),
    Target("JetPack 7 (Ubuntu 24.04)", "3.12", "1.26.4", 39),
    Target("Debian 12, python3-opencv", "3.11", "1.24.2", 36),
]


def _base_requirements() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["dependencies"]


def aarch64_environment(python: str) -> dict[str, str]:
    """Marker variables of a CPython ``python`` on aarch64 Linux (pip evaluates markers for the running
    interpreter even in a cross-platform dry run, so the test evaluates them itself)."""
    env = default_environment()
    env.update(python_version=python, python_full_version=f"{python}.0", platform_machine="aarch64",
               platform_system="Linux", sys_platform="linux", os_name="posix", implementation_name="cpython",
               platform_python_implementation="CPython")
    return env


def applying(requirements: list[str], env: dict[str, str]) -> list[Requirement]:
    """The requirements whose markers hold in ``env``."""
    reqs = [Requirement(r) for r in requirements]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


def _unmarked(req: Requirement) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def resolve(target: Target, reqs: list[Requirement], tmp: Path) -> tuple[int, str, dict | None]:
    """pip's answer for ``reqs`` on ``target`` with its numpy held: (exit code, output, the --report)."""
    pin = tmp / f"numpy-{target.python}.txt"
    pin.write_text(f"numpy=={target.numpy}\n")
    report = tmp / f"report-{target.python}.json"
    plats = ["manylinux2014_aarch64"] + [f"manylinux_2_{n}_aarch64" for n in range(17, target.glibc + 1)]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
           "--disable-pip-version-check", "--report", str(report), "--python-version", target.python,
           "--only-binary=:all:", "--retries", "1", "--timeout", "15", "-c", str(pin)]
    cmd += [arg for p in plats for arg in ("--platform", p)]
    proc = subprocess.run(cmd + [_unmarked(r) for r in reqs], capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    return proc.returncode, out, json.loads(report.read_text()) if proc.returncode == 0 else None


def test_no_opencv_requirement_on_aarch64():
    """JetPack's cv2 (GStreamer) must not be shadowed: no base requirement names an OpenCV wheel there."""
    for t in TARGETS:
        names = [r.name for r in applying(_base_requirements(), aarch64_environment(t.python))]
        assert "numpy" in names, names
        assert not [n for n in names if n.lower().startswith("opencv")], (t.name, names)


def test_base_install_keeps_system_numpy(tmp_path):
    """Each target resolves with its system numpy held, installs no other numpy and no OpenCV wheel."""
    import pip

    if Version(pip.__version__) < PIP_MIN:
        pytest.skip(f"pip {pip.__version__} checks Requires-Python against this Python, not --python-version; "
                    f"needs pip >= {PIP_MIN} (the dev extra)")
    reqs = {t: applying(_base_requirements(), aarch64_environment(t.python)) for t in TARGETS}
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        answers = dict(zip(TARGETS, pool.map(lambda t: resolve(t, reqs[t], tmp_path), TARGETS)))
    offline = [t.name for t, (code, out, _) in answers.items() if code and OFFLINE.search(out)]
    if offline:
        pytest.skip(f"the package index cannot be reached, resolution not checked for: {', '.join(offline)}")
    failed = {t.name: out.strip()[-1500:] for t, (code, out, _) in answers.items() if code}
    assert not failed, f"the base install does not resolve with the system numpy held: {failed}"
    for t, (_, _, report) in answers.items():
        got = {i["metadata"]["name"].lower(): i["metadata"] for i in report["install"]}
        assert got["numpy"]["version"] == t.numpy, (t.name, got["numpy"]["version"])
        assert not [n for n in got if n.startswith("opencv")], (t.name, sorted(got))
        wrong_python = [n for n, m in got.items()
                        if not SpecifierSet(m.get("requires_python") or "").contains(f"{t.python}.0")]
        assert not wrong_python, (t.name, wrong_python)
