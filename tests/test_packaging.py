"""export/ and runtime/ install as unet_edge.export and unet_edge.runtime, editable and as a wheel,
and the wheel holds every source file: packages are found, not listed by hand."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_layers import PACKAGE_DIRS

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md")  # with the source folders
pytestmark = pytest.mark.slow

PROBE = ("import importlib, pathlib, sys\n"
         "import unet_edge.export as e, unet_edge.runtime as r\n"
         "print(pathlib.Path(e.__file__).parent.name, pathlib.Path(r.__file__).parent.name)\n"
         "for top in ('export', 'runtime'):\n"
         "    try:\n"
         "        importlib.import_module(top)\n"
         "    except ImportError:\n"
         "        continue\n"
         "    sys.exit(f'a top-level {top!r} package was installed')\n")


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def _pip(py: Path, *args: str) -> None:
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _probe(py: Path, cwd: Path) -> str:
    # run from an unrelated folder so the source tree is not on sys.path
    proc = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def _sources(root: Path) -> set[str]:
    """Where each source file under ``root`` lands in an installed tree."""
    out = set()
    for folder, package in PACKAGE_DIRS.items():
        for path in (root / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                out.add("/".join([*package.split("."), *path.relative_to(root / folder).parts]))
    return out


def _clean_copy(dest: Path) -> Path:
    """The build inputs without a stale build/ folder, whose leftovers setuptools would pack."""
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, dest / name)
    for folder in PACKAGE_DIRS:
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_built_wheel_holds_every_source_file_under_its_package(tmp_path):
    (tmp_path / "src").mkdir()
    src = _clean_copy(tmp_path / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next(tmp_path.glob("unet_edge-*.whl"))
    everything = set(zipfile.ZipFile(wheel).namelist())
    names = {n for n in everything if n.endswith(".py")}
    shipped = {f"unet_edge/shipped/{p.name}" for p in (src / "unet_edge" / "shipped").glob("*") if p.suffix in
               (".onnx", ".md")}
    assert sorted(shipped - everything) == []  # the shipped model and its card are package data
    sources = _sources(src)  # the copy that was built: files being edited meanwhile do not count
    assert "unet_edge/export/__init__.py" in sources and "unet_edge/runtime/runners/__init__.py" in sources
    assert sorted(sources - names) == []  # e.g. a new subpackage left out
    assert sorted(names - sources) == []  # nothing else: no top-level export/ or runtime/, no tests
    py = _venv(tmp_path / "venv")
    _pip(py, str(wheel))
    assert _probe(py, tmp_path) == "export runtime"


def test_editable_install_maps_the_subpackages(tmp_path):
    py = _venv(tmp_path / "venv")
    _pip(py, "-e", str(REPO))
    assert _probe(py, tmp_path) == "export runtime"
