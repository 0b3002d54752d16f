"""Importing OpenCV, and telling which numpy a system cv2 needs.

A Jetson's cv2 is JetPack's (GStreamer for csi:// cameras), Debian's is python3-opencv: both are compiled for
the system's numpy. A pip install that puts another numpy in front of it (in a ``--system-site-packages``
venv, or ``pip install --user``) breaks ``import cv2`` (numpy 2 under a cv2 built for numpy 1) or leaves it one
upgrade away from breaking. ``import_cv2`` turns that failure into one line with its repair; ``opencv_numpy``
tells it without importing cv2, for ``unet-edge doctor``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import importlib.util
import io
import sys
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from unet_edge.core.errors import BrokenInstallError, MissingDependencyError

# Distributions that install cv2 from the registry; a cv2 without one beside it is the system's.
WHEELS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")


@dataclass(frozen=True)
class OpenCVNumpy:
    """The numpy this Python imports, where cv2 comes from, and the numpy it hides, if any."""

    numpy: str
    numpy_dir: Path
    cv2_dir: Path | None  # None: no cv2 at all
    system_cv2: bool  # no registry wheel installed it (JetPack's, Debian's python3-opencv)
    hidden: str | None = None  # the version of a numpy further down sys.path, shadowed by ``numpy``
    hidden_dir: Path | None = None

    @property
    def mismatch(self) -> bool:
        """A system cv2, built for the hidden (system) numpy, sees another one."""
        return self.system_cv2 and self.hidden is not None and self.hidden != self.numpy

    def problem(self) -> str:
        """Which numpy the system cv2 was built for, and which one hides it."""
        return (f"the system cv2 ({self.cv2_dir}) was built for the system's numpy {self.hidden} ({self.hidden_dir}), "
                f"hidden by numpy {self.numpy} from {self.numpy_dir}")

    def repair(self) -> str:
        """Removing the numpy in front makes the system's visible again (the one cv2 was built for)."""
        return f"{sys.executable} -m pip uninstall -y numpy"

    def pin(self) -> str:
        """The command that holds numpy at this version in every later pip install into this venv."""
        pins = Path(sys.prefix) / "system-numpy.txt"
        return (f"echo numpy=={self.numpy} > {pins} && {sys.executable} -m pip config --site set "
                f"install.constraint {pins}")


def _site_dir(spec: ModuleSpec) -> Path:
    """The sys.path folder a module was found in (a package's folder sits one level below it)."""
    origin = Path(spec.submodule_search_locations[0]) if spec.submodule_search_locations else Path(spec.origin)
    return origin.resolve().parent


def _from_wheel(site: Path) -> bool:
    return any((d.metadata["Name"] or "").lower() in WHEELS for d in md.distributions(path=[str(site)]))


def opencv_numpy() -> OpenCVNumpy:
    """What ``import cv2`` will meet, found without importing cv2 (which may fail)."""
    import numpy

    numpy_dir = Path(numpy.__file__).resolve().parent.parent
    spec = importlib.util.find_spec("cv2")
    cv2_dir = _site_dir(spec) if spec is not None and (spec.origin or spec.submodule_search_locations) else None
    system = cv2_dir is not None and not _from_wheel(cv2_dir)
    others = [d for d in md.distributions(name="numpy") if Path(d.locate_file("")).resolve() != numpy_dir]
    # The numpy beside cv2 is the one it was built for (Debian); JetPack's cv2 has its own folder, so else
    # the first numpy hidden further down sys.path.
    beside = [d for d in others if Path(d.locate_file("")).resolve() == cv2_dir] or others
    if not beside:
        return OpenCVNumpy(numpy.__version__, numpy_dir, cv2_dir, system)
    hidden = beside[0]
    return OpenCVNumpy(numpy.__version__, numpy_dir, cv2_dir, system, hidden.version,
                       Path(hidden.locate_file("")).resolve())


def _broken(exc: Exception, printed: str) -> BrokenInstallError:
    """The one line for a cv2 that does not import; a numpy it was not built for gets its repair."""
    reason = next((ln.strip() for ln in reversed(str(exc).splitlines()) if ln.strip()), "")
    reason = reason if isinstance(exc, ImportError) else f"{type(exc).__name__}: {reason}"
    if "numpy" not in (str(exc) + printed).lower():
        return BrokenInstallError(f"OpenCV (cv2) does not import: {reason}")
    try:
        found = opencv_numpy()
    except Exception:  # numpy itself does not import: nothing more to tell than cv2's own reason
        return BrokenInstallError(f"OpenCV (cv2) does not import: {reason}")
    if found.mismatch:
        return BrokenInstallError(f"OpenCV (cv2) does not import: {found.problem()}", found.repair())
    problem = f"OpenCV (cv2 in {found.cv2_dir}) does not import with numpy {found.numpy}: {reason}"
    # numpy 2 under a cv2 built for numpy 1 is the common case; past that, no one command is known to fix it.
    numpy2 = int(found.numpy.split(".")[0]) >= 2
    return BrokenInstallError(problem, f"{sys.executable} -m pip install 'numpy<2'" if numpy2 else "")


def import_cv2() -> ModuleType:
    """``import cv2``, or one line that says why not and how to repair it.

    numpy 2 prints its own traceback when a module built for numpy 1 imports it; that is held back so the
    one line is all a user sees (kept and passed on when the import works)."""
    if "cv2" in sys.modules:
        return sys.modules["cv2"]
    printed, path = io.StringIO(), list(sys.path)
    try:
        with contextlib.redirect_stderr(printed):
            import cv2
    except Exception as exc:  # any failure of a third-party import is the install's, not a bug of ours
        sys.path[:] = path  # cv2's loader leaves its own folder in front when its native module fails
        if isinstance(exc, ModuleNotFoundError) and exc.name == "cv2":
            raise MissingDependencyError("cv2", "opencv", "OpenCV; on a Jetson use JetPack's: sudo apt install "
                                         "python3-opencv, in a venv made with --system-site-packages") from exc
        raise _broken(exc, printed.getvalue()) from exc
    sys.stderr.write(printed.getvalue())
    return cv2
