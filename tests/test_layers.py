"""The layers point only down, read from the import graph of the source files.

core <- runtime <- (model side) <- stages <- cli. Every import counts, at any depth (lazy imports
inside functions too), and no two files import each other, directly or through others.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Source folder -> the package it installs as (setup.py's PACKAGE_DIR).
PACKAGE_DIRS = {"unet_edge": "unet_edge", "runtime": "unet_edge.runtime", "export": "unet_edge.export"}

LAYER_OF = [  # most specific prefix first
    ("unet_edge.cli", "cli"), ("unet_edge.__main__", "cli"),
    ("unet_edge.export", "stage"), ("unet_edge.training", "stage"), ("unet_edge.evaluate", "stage"),
    ("unet_edge.torch_runner", "stage"), ("unet_edge.bench", "stage"), ("unet_edge.doctor", "stage"),
    ("unet_edge.demo", "stage"), ("unet_edge.serving", "stage"), ("unet_edge.fleet", "stage"),
    ("unet_edge.models", "model"), ("unet_edge.data", "model"), ("unet_edge.metrics", "model"),
    ("unet_edge.synth", "model"),
    ("unet_edge.runtime", "runtime"),
    ("unet_edge.core", "core"), ("unet_edge", "core"),  # the package's __init__ imports only the core
]
MAY_IMPORT = {
    "core": {"core"},
    "runtime": {"core", "runtime"},
    "model": {"core", "model"},
    "stage": {"core", "runtime", "model", "stage"},
    "cli": {"core", "runtime", "model", "stage", "cli"},
}
# The synthetic dashcam is a video source: it implements the runtime's source interface.
EXTRA_EDGES = {("unet_edge.synth", "unet_edge.runtime.sources")}
THIRD_PARTY = {  # beyond the standard library
    "core": {"numpy", "cv2"},
    # gi: the system's PyGObject (GStreamer's RTSP server, --save rtsp://), imported only when asked for
    "runtime": {"numpy", "cv2", "onnxruntime", "tensorrt", "cuda", "ddsketch", "gi"},
}


def layer(module: str) -> str:
    return next(name for prefix, name in LAYER_OF if module == prefix or module.startswith(prefix + "."))


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every source file of the package."""
    out = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in (root / folder).rglob("*.py"):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, imported name) of every import in ``path``, relative ones resolved; internal
    names resolve to the longest module that exists (``from a import b`` may import module a.b)."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                found.append((node.lineno, full if full in known else base))
    resolved = []
    for line, name in found:
        if name.split(".")[0] == "unet_edge":
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
        resolved.append((line, name))
    return resolved


def violations(root: Path) -> list[str]:
    known = modules(root)
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for mod, path in sorted(known.items()):
        src = layer(mod)
        for line, name in imports(mod, path, known):
            where = f"{path.relative_to(root)}:{line} imports {name}"
            top = name.split(".")[0]
            if top == "unet_edge":
                dst = layer(name)
                extra = any(mod.startswith(a) and name == b for a, b in EXTRA_EDGES)
                if dst not in MAY_IMPORT[src] and not extra:
                    bad.append(f"{where} ({src} may not import {dst})")
            elif src in THIRD_PARTY and top not in stdlib and top not in THIRD_PARTY[src]:
                bad.append(f"{where} (the {src} layer imports only the standard library and "
                           f"{', '.join(sorted(THIRD_PARTY[src]))})")
    return bad


def cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one file in the internal import graph (Tarjan)."""
    known = modules(root)
    graph = {m: {n for _, n in imports(m, p, known) if n in known and n != m} for m, p in known.items()}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_ancestor_package(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def test_every_import_points_down():
    bad = violations(ROOT)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_file_level_import_cycles():
    # A package's __init__ importing its own submodules (and them importing a sibling through
    # the package) is how Python packages work, not a cycle between ideas: left out.
    groups = [g for g in cycles(ROOT) if not any(_is_ancestor_package(a, b) for a in g for b in g)]
    assert not groups, "import cycles: " + "; ".join(" <-> ".join(g) for g in groups)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for folder in PACKAGE_DIRS:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize("files,expect", [
    ({"runtime/runner.py": "def f():\n    import torch\n"}, "runtime/runner.py:2 imports torch"),
    ({"runtime/x.py": "from unet_edge.training import trainer\n", "unet_edge/training/__init__.py": "",
      "unet_edge/training/trainer.py": ""}, "runtime may not import stage"),
    ({"unet_edge/core/a.py": "from unet_edge.runtime import sources\n", "runtime/sources.py": ""},
     "core may not import runtime"),
    ({"unet_edge/models/m.py": "from ..cli import app\n", "unet_edge/models/__init__.py": "",
      "unet_edge/cli/__init__.py": "", "unet_edge/cli/app.py": ""}, "model may not import cli"),
])
def test_the_check_catches_imports_against_the_layers(tmp_path, files, expect):
    bad = violations(_tree(tmp_path, files))
    assert any(expect in b for b in bad), bad


def test_the_check_catches_a_cycle(tmp_path):
    root = _tree(tmp_path, {"unet_edge/core/a.py": "def f():\n    from unet_edge.core import b\n",
                            "unet_edge/core/b.py": "from unet_edge.core.a import f\n",
                            "unet_edge/core/__init__.py": ""})
    assert ["unet_edge.core.a", "unet_edge.core.b"] in cycles(root)
