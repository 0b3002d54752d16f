"""Statistics once: one pass of the FP32 graph over the calibration frames gives every calibration
method's ranges, written as ONNX Runtime calibration caches that ``quantize_static`` then reads.

ONNX Runtime's calibrators each run their own pass over every frame (minmax, a percentile histogram, an
entropy histogram), most of their time in ``np.histogram`` over full tensors. Here one pass computes the
ranges they would: the moving average of each chunk's min/max (minmax), a 2048-bin histogram of absolute
values (percentile 99.999), a 128-bin signed histogram (entropy, by ONNX Runtime's own collector). The
histograms see about ``SAMPLE`` values of a tensor a frame, evenly strided, and its extremes: the
99.999th percentile is then still the cut of ~100 values on 200 frames, and the pass costs little more
than the graph's own run.

As many frames as the ranges need: frames are read in an order whose every prefix spreads over the
source, and the pass stops once ``CHECK`` more frames move no more than ``SETTLED`` of the tensors'
ranges by over ``MOVE`` of their width, under every method.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from unet_edge.core.lazy import require

SAMPLE = 20_000  # values of a tensor a frame that the histograms read (an odd stride, extremes included)
AVERAGING = 0.01  # ONNX Runtime's moving-average constant for minmax
PERCENTILE_BINS, PERCENTILE = 2048, 99.999  # ONNX Runtime's percentile defaults
ENTROPY_BINS = 128  # and its entropy defaults (quantized bins too)
MIN_FRAMES, CHECK = 64, 32  # never fewer frames than this; the ranges are compared every CHECK frames
MOVE, SETTLED = 0.02, 0.05


def cache_path(prefix: Path, method: str) -> Path:
    """Where ``method``'s ranges are kept for the graph ``prefix`` names."""
    return prefix.with_name(f"{prefix.name}-{method}.calib.json")


def prefix_spread(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix spreads over the range (a fixed permutation: reproducible)."""
    return [int(i) for i in np.random.default_rng(0).permutation(n)]


class FrameReader:
    """ONNX Runtime CalibrationDataReader over uint8 NHWC BGR frames, read in chunks
    (``set_range``) so that histogram calibrators never hold every frame's activations."""

    def __init__(self, frames: list[np.ndarray], input_name: str) -> None:
        self.frames, self.input_name = frames, input_name
        self.start, self.end, self.i, self.count = 0, len(frames), 0, 0

    def __len__(self) -> int:
        return len(self.frames)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end, self.i = start_index, end_index, start_index

    def get_next(self) -> dict | None:
        if self.i >= self.end:
            return None
        frame = self.frames[self.i]
        self.i += 1
        self.count += 1
        return {self.input_name: frame[None]}

    def rewind(self) -> None:
        self.i = self.start


class _Collector:
    """Takes each chunk's tensors (as ONNX Runtime's calibrator hands them to its collector) once."""

    def __init__(self) -> None:
        from onnxruntime.quantization.calibrate import HistogramCollector

        self.minmax: dict[str, tuple] = {}
        self.absolute: dict[str, tuple[np.ndarray, float, object, object]] = {}  # hist, bin width, min, max
        self.entropy = HistogramCollector("entropy", False, ENTROPY_BINS, ENTROPY_BINS, PERCENTILE, None)

    def collect(self, name_to_arr: dict) -> None:
        sampled = {}
        for name, arrays in name_to_arr.items():
            arrays = [np.asarray(a).ravel() for a in arrays]
            lo, hi = min(a.min() for a in arrays), max(a.max() for a in arrays)
            dtype = arrays[0].dtype
            old = self.minmax.get(name)
            # ONNX Runtime's MinMaxCalibrater with moving_average: the first chunk, then 1% of each next one
            self.minmax[name] = (lo, hi) if old is None else tuple(
                np.asarray(o + AVERAGING * (v - o), dtype=dtype) for o, v in zip(old, (lo, hi)))
            stride = max(1, arrays[0].size // SAMPLE) | 1  # odd: never in step with a row of even width
            sampled[name] = np.concatenate([*(a[::stride] for a in arrays), np.array([lo, hi], dtype=dtype)])
            self._absolute(name, sampled[name], lo, hi)
        self.entropy.collect_value(sampled)

    def _absolute(self, name: str, values: np.ndarray, lo, hi) -> None:
        # Uniform bins grown at the top (as ONNX Runtime's), counted by np.histogram's fast uniform path.
        top = float(max(abs(lo), abs(hi)))
        old = self.absolute.get(name)
        if old is None:
            width = top / PERCENTILE_BINS if top > 0 else 1.0 / PERCENTILE_BINS
            hist, omin, omax = np.zeros(PERCENTILE_BINS, np.int64), lo, hi
        else:
            hist, width, omin, omax = old
        bins = max(len(hist), int(np.ceil(top / width)))
        hist = np.concatenate([hist, np.zeros(bins - len(hist), np.int64)])
        hist += np.histogram(np.abs(values), bins, range=(0.0, bins * width))[0]
        self.absolute[name] = (hist, width, min(omin, lo), max(omax, hi))

    def ranges(self) -> dict:
        """method -> TensorsData, from what was collected so far."""
        from onnxruntime.quantization.calibrate import CalibrationMethod, HistogramCollector, TensorsData

        percentile = HistogramCollector("percentile", True, PERCENTILE_BINS, ENTROPY_BINS, PERCENTILE, None)
        percentile.histogram_dict = {
            k: (h, (np.arange(len(h) + 1) * w).astype(np.asarray(lo).dtype), lo, hi)
            for k, (h, w, lo, hi) in self.absolute.items()}
        with contextlib.redirect_stdout(io.StringIO()):  # the collectors print a line per call
            return {"minmax": TensorsData(CalibrationMethod.MinMax, dict(self.minmax)),
                    "percentile": TensorsData(CalibrationMethod.Percentile, percentile.compute_percentile()),
                    "entropy": TensorsData(CalibrationMethod.Entropy, self.entropy.compute_entropy())}


def _moved(before: dict, after: dict) -> float:
    """The largest share, over the methods, of tensors whose range moved by more than MOVE of its width."""
    worst = 0.0
    for method, data in after.items():
        moved = 0
        for name, now in data.items():
            was = before[method][name]
            lo, hi = float(now.range_value[0]), float(now.range_value[1])
            shift = abs(lo - float(was.range_value[0])) + abs(hi - float(was.range_value[1]))
            moved += shift > MOVE * max(hi - lo, 1e-12)
        worst = max(worst, moved / max(len(data.data), 1))
    return worst


def collect(fp32_onnx: Path, frames: list[np.ndarray], op_types: list[str], chunk: int, prefix: Path) -> int:
    """Run ``fp32_onnx`` once over as many of ``frames`` as the ranges need (``chunk`` at a time) and
    write the minmax, percentile and entropy caches under ``prefix`` (:func:`cache_path`); returns the
    number of frames read."""
    require("onnxruntime")
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    reader = FrameReader([frames[i] for i in prefix_spread(len(frames))], "frame")
    collector, before, now, used = _Collector(), None, None, 0
    with tempfile.TemporaryDirectory(prefix="unet-edge-calib-") as tmp, contextlib.redirect_stdout(io.StringIO()):
        calibrator = create_calibrator(Path(fp32_onnx), op_types, str(Path(tmp) / "augmented.onnx"),
                                       CalibrationMethod.Entropy, extra_options={"num_bins": ENTROPY_BINS})
        calibrator.collector = collector  # ours: every method's statistics from the one pass
        for start in range(0, len(reader), chunk):
            used = min(start + chunk, len(reader))
            reader.set_range(start, used)
            calibrator.collect_data(reader)
            now = None
            if used >= MIN_FRAMES and used % CHECK < chunk and used < len(reader):
                now = collector.ranges()
                if before is not None and _moved(before, now) <= SETTLED:
                    break
                before = now
        del calibrator
    for method, data in (now or collector.ranges()).items():  # the settled ranges: already computed
        save_tensors_data(data, cache_path(prefix, method))
    return used
