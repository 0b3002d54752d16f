"""doctor's checks of an optional package: where it is absent, the check is its one line and install command."""

from __future__ import annotations

import pytest

from unet_edge import doctor


@pytest.mark.parametrize(("check", "module", "name", "status", "fix"), [
    (doctor._onnxruntime, "onnxruntime", "onnxruntime", "missing", "pip install 'unet-edge[cpu]'"),
    (doctor._openvino, "openvino", "openvino", "info", "pip install 'unet-edge[openvino]'"),
    (doctor._opencv, "cv2", "opencv", "missing", "pip install 'unet-edge[opencv]'"),
    (doctor._serving, "pytriton", "serve", "info", "pip install 'unet-edge[serve]'"),
])
def test_an_absent_package_gives_its_line_without_running_the_check(monkeypatch, check, module, name, status, fix):
    asked = []
    monkeypatch.setattr(doctor, "installed", lambda m: asked.append(m) or m != module)
    args = ({},) if module == "onnxruntime" else ()
    first, second = check(*args), check(*args)
    assert (first.name, first.status) == (name, status) and first.fix.startswith(fix)
    assert "not installed" in first.detail and asked == [module, module]
    assert first == second and first is not second  # a caller changing one line changes no other


def test_an_installed_package_runs_the_check(monkeypatch):
    monkeypatch.setattr(doctor, "installed", lambda m: True)
    line = doctor._onnxruntime({})  # onnxruntime is a dependency of the test environment
    assert line.status == "ok" and line.detail.startswith("ONNX Runtime ")
