"""export/ and runtime/ install as unet_edge.export and unet_edge.runtime, editable and as a wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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


def test_built_wheel_maps_the_subpackages(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next(tmp_path.glob("unet_edge-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "unet_edge/export/__init__.py" in names and "unet_edge/runtime/__init__.py" in names
    assert not [n for n in names if n.split("/")[0] in ("export", "runtime", "tests", "benchmarks")]
    py = _venv(tmp_path / "venv")
    _pip(py, str(wheel))
    assert _probe(py, tmp_path) == "export runtime"


def test_editable_install_maps_the_subpackages(tmp_path):
    py = _venv(tmp_path / "venv")
    _pip(py, "-e", str(REPO))
    assert _probe(py, tmp_path) == "export runtime"
