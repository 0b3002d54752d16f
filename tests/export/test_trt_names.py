"""Every TensorRT name the builder and the runners use exists in each release whose build plan uses it.

TensorRT cannot run here, but the registry serves its real Python binding wheels (about 1 MB, no
libraries): their compiled module holds the name of every class, method, property and enum value
it binds. The names we use are collected from our source (AST), so a new call is checked
automatically; names inside ``if plan.<field>:`` are checked only in releases whose plan sets it,
names guarded by ``hasattr`` nowhere (they are optional by construction).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unet_edge.core.artifact import PRECISIONS
from unet_edge.export.tensorrt.plan import plan_build

ROOT = Path(__file__).resolve().parents[2]
RELEASES = {  # version -> the binding wheel on the registry (JetPack 6.0 ships 8.6.2, JetPack 6.1/6.2 10.3)
    (8, 6, 1): "tensorrt-bindings==8.6.1",
    (10, 3, 0): "tensorrt-cu12-bindings==10.3.0",
    (10, 13, 0, 35): "tensorrt-cu12-bindings==10.13.0.35",
    (11, 4, 0, 106): "tensorrt-cu12-bindings==11.4.0.106",
}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "unet-edge" / "tensorrt-bindings"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _wheel(spec: str) -> Path:
    name, version = spec.split("==")
    found = sorted(CACHE.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--platform",
                           "manylinux_2_17_x86_64", "-d", str(CACHE), spec], capture_output=True, text=True,
                          timeout=300)
    found = sorted(CACHE.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if proc.returncode or not found:
        pytest.skip(f"cannot download {spec} from the package registry: {proc.stderr.strip()[-200:]}")
    return found[0]


def bound_names(wheel: Path) -> set[str]:
    """Strings of the compiled module that are whole identifiers (never words inside prose)."""
    with zipfile.ZipFile(wheel) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith(".so")))
    return {m.decode() for m in re.findall(rb"[\x20-\x7e]{2,}", data) if IDENT.fullmatch(m.decode())}


def has(names: set[str], name: str) -> bool:
    # The linker may keep a short name only as the tail of a longer one (INT8 inside UINT8).
    return name in names or any(n.endswith(name) for n in names)


@pytest.fixture(scope="module")
def releases() -> dict[tuple[int, ...], set[str]]:
    return {version: bound_names(_wheel(spec)) for version, spec in RELEASES.items()}


class TrtUses(ast.NodeVisitor):
    """Attribute names read from TensorRT objects: the module itself, anything made from it."""

    def __init__(self) -> None:
        self.roots = {"trt", "self._trt"}
        self.uses: list[tuple[str, str | None, int]] = []  # (name, plan field guarding it, line)
        self._guard: list[str | None] = [None]
        self._optional: list[set[str]] = [set()]

    @staticmethod
    def _key(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        return None

    def rooted(self, node: ast.AST) -> bool:
        if self._key(node) in self.roots:
            return True
        if isinstance(node, ast.Attribute | ast.Subscript):
            return self.rooted(node.value)
        if isinstance(node, ast.Call):
            return self.rooted(node.func)
        return False

    def learn(self, tree: ast.AST) -> None:
        """Names bound to TensorRT objects, to a fixed point (methods set self.engine for others)."""
        while True:
            before = len(self.roots)
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and self.rooted(node.value):
                    for target in node.targets:
                        for t in ast.walk(target) if isinstance(target, ast.Tuple) else [target]:
                            if self._key(t):
                                self.roots.add(self._key(t))
                elif isinstance(node, ast.For) and self.rooted(node.iter) and self._key(node.target):
                    self.roots.add(self._key(node.target))
            if len(self.roots) == before:
                return

    def visit_If(self, node: ast.If) -> None:
        guard = next((n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name) and n.value.id == "plan"), None)
        optional = {n.args[1].value for n in ast.walk(node.test) if isinstance(n, ast.Call)
                    and getattr(n.func, "id", "") == "hasattr" and len(n.args) == 2
                    and isinstance(n.args[1], ast.Constant)}
        self.visit(node.test)
        self._guard.append(guard or self._guard[-1])
        self._optional.append(self._optional[-1] | optional)
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self._guard.pop()
        self._optional.pop()
        for child in node.orelse if isinstance(node.orelse, list) else [node.orelse]:
            self.visit(child)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        """``if not plan.X: return`` guards the rest of the function by X."""
        pushed = 0
        for stmt in node.body:
            self.visit(stmt)
            test = stmt.test if isinstance(stmt, ast.If) else None
            negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
            field = test.operand if negated else None
            if (isinstance(field, ast.Attribute) and getattr(field.value, "id", "") == "plan" and not stmt.orelse
                    and all(isinstance(b, ast.Return | ast.Raise) for b in stmt.body)):
                self._guard.append(test.operand.attr)
                pushed += 1
        del self._guard[len(self._guard) - pushed:]

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit_If(node)  # same shape: test, body, orelse (single expressions)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.rooted(node.value) and not node.attr.startswith("__") and node.attr not in self._optional[-1]:
            self.uses.append((node.attr, self._guard[-1], node.lineno))
        self.generic_visit(node)


def trt_files(root: Path = ROOT) -> list[Path]:
    files = [p for d in ("export", "runtime", "unet_edge") for p in (root / d).rglob("*.py")]
    # modules that import TensorRT, or take it as a ``trt`` argument from one that does
    return [p for p in files if re.search(r'require\("tensorrt"\)|import tensorrt|def \w+\(trt\b', p.read_text())
            and "tests" not in p.parts]


def collect(paths: list[Path]) -> list[tuple[str, str | None, str]]:
    out = []
    for path in paths:
        tree = ast.parse(path.read_text())
        v = TrtUses()
        v.learn(tree)
        v.visit(tree)
        out += [(name, guard, f"{path.relative_to(path.parents[1])}:{line}") for name, guard, line in v.uses]
    return out


def plans_use(version: tuple[int, ...], field: str) -> bool:
    plans = [plan_build(version, p) for p in PRECISIONS] + [plan_build(version, "fp16", dla_core=0)]
    return any(getattr(p, field) not in (None, False, ()) for p in plans)


def missing(releases, uses) -> list[str]:
    bad = []
    for version, names in releases.items():
        release = ".".join(map(str, version))
        for name, guard, where in uses:
            if (guard is None or plans_use(version, guard)) and not has(names, name):
                bad.append(f"{where}: {name} (guarded by plan.{guard})" if guard else f"{where}: {name}")
                bad[-1] += f" is not in TensorRT {release}"
        for precision in PRECISIONS:  # builder flags reach TensorRT as strings, from the plan
            for flag in plan_build(version, precision, dla_core=0 if precision != "fp32" else None).builder_flags:
                if not has(names, flag):
                    bad.append(f"BuilderFlag.{flag} ({precision} plan) is not in TensorRT {release}")
    return bad


def test_the_collector_finds_the_calls_we_depend_on():
    uses = {name for name, _, _ in collect(trt_files())}
    for name in ("execute_async_v3", "set_tensor_address", "set_memory_pool_limit", "create_timing_cache",
                 "deserialize_cuda_engine", "get_tensor_mode", "build_serialized_network", "BuilderFlag",
                 "STRONGLY_TYPED", "EXPLICIT_BATCH", "IProgressMonitor", "progress_monitor", "set_input_shape"):
        assert name in uses, name
    guarded = {name: guard for name, guard, _ in collect(trt_files())}
    assert guarded["STRONGLY_TYPED"] == "strongly_typed" and guarded["EXPLICIT_BATCH"] == "explicit_batch_flag"
    assert guarded["IProgressMonitor"] == guarded["progress_monitor"] == "progress_monitor"
    assert guarded["execute_async_v3"] is None and "builder_optimization_level" not in guarded  # hasattr-guarded


def test_every_name_exists_in_every_release_whose_plan_uses_it(releases):
    bad = missing(releases, collect(trt_files()))
    assert not bad, "TensorRT names missing:\n" + "\n".join(bad)


def test_the_check_can_fail(releases):
    v114, v861 = releases[(11, 4, 0, 106)], releases[(8, 6, 1)]
    assert not has(v114, "FP16")  # 11.4 has "FP16" only at the end of a sentence: not a name
    assert has(v861, "FP16") and has(v861, "INT8")  # INT8 only as the tail of UINT8: still a name
    assert not has(v861, "STRONGLY_TYPED") and has(v114, "STRONGLY_TYPED")
    # used unconditionally, BuilderFlag.FP16 and STRONGLY_TYPED would be reported where they are missing
    uses = [("FP16", None, "probe.py:1"), ("STRONGLY_TYPED", None, "probe.py:2")]
    bad = missing({(11, 4, 0, 106): v114, (8, 6, 1): v861}, uses)
    assert any("FP16 is not in TensorRT 11.4.0.106" in b for b in bad)
    assert any("STRONGLY_TYPED is not in TensorRT 8.6.1" in b for b in bad)
    assert not any("FP16 is not in TensorRT 8.6.1" in b for b in bad)
