"""The bad-input matrix (rows.md): every row runs ``unet-edge`` in this process and must give one error line
that holds its fragment, a non-zero exit code, no traceback, and leave its folder as it was."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.matrix.row import Row, load_rows
from tests.matrix.setups import BUSY, FREE

HERE = Path(__file__).parent


ROWS = load_rows(HERE / "rows.md")
IDS = [r.id for r in ROWS]
assert len(set(IDS)) == len(IDS), "two rows of rows.md share an id"


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: a file's sha256, or 'dir'."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() and not p.is_symlink() else \
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "link"
    return out


def lay_out(row: Row, tmp: Path, request) -> None:
    text = " ".join(row.argv)
    if "{model}" in text or "{dyn}" in text:
        pytest.importorskip("onnx")
        from tests.runtime.tiny_model import tiny_model

        if "{model}" in text:
            (tmp / "model").mkdir()
            tiny_model(tmp / "model" / "tiny.onnx")
        if "{dyn}" in text:
            (tmp / "dyn").mkdir()
            tiny_model(tmp / "dyn" / "tiny.onnx", dynamic=True)
    if "{frames}" in text:
        import cv2

        from tests.runtime.clips import frame_image

        (tmp / "frames").mkdir()
        for i in range(4):
            cv2.imwrite(str(tmp / "frames" / f"{i:06d}.png"), frame_image(i))
    if "{clip}" in text:
        from tests.runtime.clips import write_clip

        write_clip(tmp / "clip.mp4", frames=10)
    if "{run}" in text:
        trained, exported = request.getfixturevalue("trained_run"), request.getfixturevalue("model")
        (tmp / "run").mkdir()
        shutil.copy2(trained / "best.pt", tmp / "run" / "best.pt")
        for f in exported.parent.iterdir():
            if f.name.startswith("best."):
                shutil.copy2(f, tmp / "run" / f.name)
    if row.setup is not None:
        row.setup(tmp)


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``unet-edge ARGV`` in this process: (exit code, all of stderr); an exception that escapes the
    CLI's error handling fails the row with its traceback."""
    import contextlib
    import io

    from unet_edge.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, err.getvalue()


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_bad_input(row: Row, tmp_path: Path, request, monkeypatch) -> None:
    tmp = tmp_path / "w"
    tmp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # caches are not the row's folder
    lay_out(row, tmp, request)
    before = snapshot(tmp)
    argv = [a.format(tmp=tmp, model=tmp / "model" / "tiny.onnx", dyn=tmp / "dyn" / "tiny.onnx",
                     frames=tmp / "frames", clip=tmp / "clip.mp4", run=tmp / "run", free=FREE, busy=BUSY)
            for a in row.argv]
    code, err = run_cli(argv)
    assert code != 0 if row.code is None else code == row.code, (code, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("unet-edge: error: "), err
    err = lines[0]
    fragment = row.fragment.replace("{free}", str(FREE)).replace("{busy}", str(BUSY))
    assert fragment.lower() in err.lower(), err
    after = snapshot(tmp)
    new = {p for p in after if p not in before}
    assert not new, f"left behind: {sorted(new)}"
    changed = [p for p in before if after.get(p) != before[p]]
    assert not changed, f"changed or removed: {changed}"
