"""Exports made on demand and kept in a cache folder keyed by the model file's content (``bench``'s
artifacts, and the deploy graph of a source ONNX graph that ``eval`` or ``bench`` opens)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from unet_edge.core.errors import BenchError
from unet_edge.core.io import user_cache


def cache_root() -> Path:
    return user_cache() / "bench"


EXPORT_REV = 4  # bump when exported graphs change, so cached artifacts are re-exported


class ArtifactCache:
    """Exports a model on demand into a cache folder keyed by its sha256, the options that describe a
    model unet-edge did not train (``spec``) and the input size."""

    def __init__(self, ckpt: Path, size: tuple[int, int] | None, calib: str | None, root: Path | None,
                 log, subpixel: bool = False, spec=None, exports: Path | None = None) -> None:
        self.ckpt, self.size, self.calib, self.log, self.subpixel = ckpt, size, calib, log, subpixel
        self.spec, self.exports = spec, exports
        digest = hashlib.sha256(ckpt.read_bytes() + (repr(spec).encode() if spec else b"")).hexdigest()[:12]
        tag = (f"{size[0]}x{size[1]}" if size else "native") + ("-subpixel" if subpixel else "") + f"-r{EXPORT_REV}"
        self.dir = (root or cache_root()) / f"{ckpt.stem}-{digest}-{tag}"

    def onnx(self, precision: str, int8_target: str = "cpu") -> Path:
        from unet_edge.export.exporter import ExportOptions, export_model
        from unet_edge.export.int8.stage import int8_path

        sub = self.dir / (f"int8-{int8_target}" if precision == "int8" else "float")
        name = {"fp32": f"{self.ckpt.stem}.onnx", "fp16": f"{self.ckpt.stem}.fp16.onnx",
                "int8": int8_path(sub, self.ckpt.stem, int8_target).name}[precision]
        path = sub / name
        if path.is_file() and path.with_name(path.name + ".json").is_file():
            return path
        done = self._exported(name)
        if done is not None:
            return done
        if precision == "int8" and not self.calib:
            raise BenchError("INT8 needs calibration frames: pass --data or --source (real frames)")
        opts = ExportOptions(fp16=precision == "fp16", int8=precision == "int8", int8_target=int8_target,
                             calib=self.calib, calib_frames=300, size=self.size, out=sub, verify=False, build=False,
                             subpixel=self.subpixel)
        self.log(f"exporting {precision} ONNX into {sub}")
        export_model(self.ckpt, opts, lambda _m: None, spec=self.spec)
        return path

    def _exported(self, name: str) -> Path | None:
        """``name`` in the ``exports`` folder where it was exported from this very checkpoint at this size
        (its sidecar's checkpoint_sha256 and input say so), so nothing is exported twice."""
        from unet_edge.core.artifact import load_meta
        from unet_edge.core.io import file_sha256

        path = self.exports / name if self.exports else None
        if path is None or self.spec is not None or self.subpixel or not path.with_name(name + ".json").is_file():
            return None
        meta = load_meta(path)
        if meta.raw.get("checkpoint_sha256") != file_sha256(self.ckpt):
            return None
        return path if self.size is None or tuple(self.size) == meta.input_size else None
