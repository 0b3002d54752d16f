"""The INT8 fallback search finds the layer that cannot be quantized, and says so when nothing helps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.export.deploy_files import deploy_onnx
from unet_edge.core.errors import Int8Rejected
from unet_edge.export.criterion import Criterion, Score, Scorer
from unet_edge.export.int8.graph_facts import layer_names, module_paths
from unet_edge.export.int8.search import SearchOptions, search
from unet_edge.runtime.runners.onnxruntime import OnnxRuntimeRunner

pytestmark = pytest.mark.slow


class HardToQuantize(nn.Module):
    """Five convs; `pre` adds a channel of about 10,000 to what `mid` reads, which `mid` weighs
    lightly. In FP32 that channel is harmless; quantized per tensor, it takes the whole int8 range
    and the other channels round to zero, unless `mid` (whose input it is) stays in float."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem, self.pre, self.mid = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), \
            nn.Conv2d(8, 8, 3, padding=1)
        self.post, self.head = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 1)
        for m in (self.stem, self.pre, self.mid, self.post, self.head):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.4
            m.bias.data.zero_()
        self.pre.weight.data[0] = 0.0
        self.pre.bias.data[0] = 1e4
        self.mid.weight.data[:, 0] = 1e-5

    def forward(self, x):
        for conv in (self.stem, self.pre, self.mid, self.post):
            x = torch.relu(conv(x))
        return self.head(x)


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    out = tmp_path_factory.mktemp("hard")
    model = HardToQuantize().eval()
    meta = {"classes": ["a", "b", "c", "d"], "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
            "ignore_index": 255, "precision": "fp32", "train_input_size": [48, 64],
            "input": {"name": "frame", "shape": [1, 48, 64, 3], "dtype": "uint8", "layout": "NHWC", "color": "BGR",
                      "multiple_of": 1},
            "outputs": [{"name": "mask", "shape": [1, 48, 64], "dtype": "uint8", "semantics": "class_ids"}]}
    path = deploy_onnx(model, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], out / "hard.onnx", (48, 64), meta=meta)
    from unet_edge.core.artifact import write_meta

    write_meta(path, meta)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(16)]
    with OnnxRuntimeRunner(path) as r:
        ref = [r.infer(f) for f in frames]
    return path, model, frames, ref


def test_layer_names_are_module_paths(hard):
    path, model, _, _ = hard
    assert sorted(layer_names(path, module_paths(model)).values()) == ["head", "mid", "post", "pre", "stem"]


def test_the_search_keeps_the_layer_that_reads_the_huge_range_in_float(hard, tmp_path):
    path, model, frames, ref = hard
    quant, found = search(path, tmp_path / "hard.int8.onnx", frames[:8], frames[8:], _scorer(ref[8:]),
                          module_paths(model), _opts(0.99, equalize_activations=False))
    first = found.tried[0]
    assert first["agreement"] < 0.9  # the default float layers (stem, post, head) do not save it
    assert "mid" in found.float_layers and found.agreement >= 0.99
    # the default float layers worth 2% of the MACs or more go back to INT8 once `mid` is float
    assert [s["back_to_int8"] for s in found.tried if "back_to_int8" in s][-2:] == ["post", "stem"]
    assert "post" not in found.float_layers and "head" in found.float_layers  # head: 1.6%, never tried
    with _runner(tmp_path, path) as r:
        assert np.mean([np.mean(r.infer(f) == m) for f, m in zip(frames[8:], ref[8:])]) == found.agreement
    assert "mid" in {n.split("/")[-2] for n in quant["float_nodes"]}
    assert found.met and found.path == tmp_path / "hard.int8.onnx"
    assert "mid" in found.float_ms and found.float_ms["mid"] > 0  # the layers that gain are timed


def _opts(min_agreement: float, **kw) -> SearchOptions:
    return SearchOptions("tensorrt", Criterion(min_agreement), methods=("minmax",), log=lambda _m: None, **kw)


def _scorer(ref, labels=None) -> Scorer:
    return Scorer(ref, labels, ["a", "b", "c", "d"])


def _runner(tmp_path, fp32):
    from unet_edge.core.artifact import load_meta, write_meta

    write_meta(tmp_path / "hard.int8.onnx", {**load_meta(fp32).to_dict(), "precision": "int8"})
    return OnnxRuntimeRunner(tmp_path / "hard.int8.onnx")


def test_an_unreachable_target_keeps_the_best_graph_found_apart(hard, tmp_path):
    path, model, frames, ref = hard
    _, found = search(path, tmp_path / "x.onnx", frames[:8], frames[8:], _scorer([255 - m for m in ref[8:]]),
                      module_paths(model), _opts(1.0, max_float_layers=2, equalize_activations=False))
    assert not found.met and found.exhausted is None
    assert not (tmp_path / "x.onnx").exists() and found.path == tmp_path / "x.rejected.onnx" and found.path.is_file()
    assert "mid" in [s["layer"] for s in found.tried if "layer" in s]  # the layers tried are in the steps


def test_the_budget_covers_the_search_not_the_calibration(hard, tmp_path):
    path, model, frames, ref = hard
    _, found = search(path, tmp_path / "b.onnx", frames[:8], frames[8:], _scorer(ref[8:]), module_paths(model),
                      _opts(0.99, max_seconds=0.0, equalize_activations=False))
    assert found.tried[0]["method"] == "minmax"  # calibrated all the same
    assert not found.met and found.exhausted.startswith("measuring the layers' sensitivity (0 of")


def test_layer_costs_are_the_convs_multiply_adds(hard):
    from unet_edge.export.int8.graph_facts import layer_macs

    path, model, _, _ = hard
    macs = {layer: layer_macs(path)[node] for node, layer in layer_names(path, module_paths(model)).items()}
    assert macs["stem"] == 8 * 3 * 9 * 48 * 64 and macs["mid"] == 8 * 8 * 9 * 48 * 64
    assert macs["head"] == 4 * 8 * 48 * 64


class _LosesTwoPoints(Scorer):
    def score(self, masks, idx=None) -> Score:
        s = super().score(masks, idx)
        return Score(s.agreement, -0.02, {"a": -0.02, "b": 0.0})


def test_the_search_also_holds_the_miou_drop_where_there_are_labels(hard, tmp_path):
    path, model, frames, ref = hard
    _, found = search(path, tmp_path / "y.onnx", frames[:8], frames[8:], _LosesTwoPoints(ref[8:], None, "abcd"),
                      module_paths(model), SearchOptions("tensorrt", Criterion(0.5, 0.005), ("minmax",),
                                                         max_float_layers=1, log=lambda _m: None))
    assert not found.met and found.path.name == "y.rejected.onnx"
    assert Criterion(0.5, 0.005).says(found.score).endswith("mIoU -2.00 pts, worst class a -2.00 pts")


def test_layers_made_redundant_by_later_ones_go_back_to_int8_costliest_first():
    from unet_edge.export.int8.prune import PruneHooks, prune

    share = {"stem": 0.01, "a": 0.30, "b": 0.05, "c": 0.02}
    seen = []

    def without(layers):  # the target holds while b is float: a and c were taken on noise
        seen.append(layers)
        return (Score(0.995), True) if "b" in layers else (Score(0.98), False)

    steps = []
    quiet = PruneHooks(without, log=lambda _m: None)
    chosen, score = prune(["stem", "a", "b", "c"], ["stem"], share, Score(0.996), steps, quiet)
    assert chosen == ["stem", "b"] and score.agreement == 0.995
    assert [s["back_to_int8"] for s in steps] == ["a", "b", "c"]  # costliest first
    assert [s["kept"] for s in steps] == [False, True, False]
    assert seen[1] == ["stem", "c"]  # b is tried with a already back in INT8
    assert prune(["stem", "a"], ["stem"], share, Score(0.99), [], quiet)[0] == ["stem", "a"]
    # a default float layer that costs 2% of the MACs or more is tried last
    steps = []
    share["head"] = 0.04
    chosen, _ = prune(["stem", "head", "a", "b"], ["stem", "head"], share, Score(0.996), steps, quiet)
    assert [s["back_to_int8"] for s in steps] == ["a", "b", "head"] and chosen == ["stem", "b"]


def test_layers_are_grouped_by_role_across_the_network():
    from unet_edge.export.int8.graph_facts import layer_groups

    layers = ["encoder._conv_stem", "encoder._blocks.0._depthwise_conv", "encoder._blocks.12._depthwise_conv",
              "encoder._blocks.12._project_conv", "decoder.0.convs.1.0", "decoder.3.convs.0.0", "head"]
    assert layer_groups(layers) == {
        "encoder._blocks.#._depthwise_conv": ["encoder._blocks.0._depthwise_conv",
                                              "encoder._blocks.12._depthwise_conv"],
        "decoder.#.convs.#.#": ["decoder.0.convs.1.0", "decoder.3.convs.0.0"]}


def test_a_float_conv_is_rounded_once_after_its_relu(hard, tmp_path):
    """The CPU flavour folds each Relu into its conv's output range (a uint8 zero point of 0). A conv
    made float by surgery reads float input and weights, and its output is rounded once, by that
    QuantizeLinear: clamped at 0 there, as the Relu would, with no float round trip of ours."""
    import onnx
    from onnx import numpy_helper

    from unet_edge.export.int8.calibration import quantize

    path, _, frames, _ = hard
    stem = next(n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv")
    quantize(path, tmp_path / "q.onnx", frames[:8], "cpu", "minmax", float_nodes=[stem.name], warn=False)
    model = onnx.load(str(tmp_path / "q.onnx"))
    nodes, inits = model.graph.node, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in nodes for o in n.output}
    float_conv = next(n for n in nodes if n.name == stem.name)
    assert all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear" for i in float_conv.input)
    assert inits[float_conv.input[1]].dtype == np.float32  # its own FP32 weights
    readers = [n for n in nodes if float_conv.output[0] in n.input]
    assert [n.op_type for n in readers] == ["QuantizeLinear"] and not any(n.op_type == "Relu" for n in nodes)
    assert int(inits[readers[0].input[2]]) == 0  # the Relu: uint8 from 0


def test_equalised_activations_cure_the_huge_range_with_no_layer_added(hard, tmp_path):
    """`pre`'s 10,000-wide channel, divided down and multiplied back into `mid`'s weights, no longer
    takes the whole INT8 range: the default float layers are enough."""
    path, model, frames, ref = hard
    quant, found = search(path, tmp_path / "hard.int8.onnx", frames[:8], frames[8:], _scorer(ref[8:]),
                          module_paths(model), _opts(0.99))
    plain, equalised = found.tried[0], found.tried[1]
    assert plain["graph"] == "plain" and plain["agreement"] < 0.9
    assert equalised["graph"] == "equalized" and equalised["agreement"] >= 0.99
    assert found.float_layers == ["head", "post", "stem"] and found.agreement >= 0.99
    # of the Relus after stem, pre, mid and post (each read by a conv) only pre's channels are MIN_IMBALANCE
    # apart: the others are left as they are
    assert quant["equalized_activations"] == ["src//Relu_1_output_0"]
    with _runner(tmp_path, path) as r:
        assert np.mean([np.mean(r.infer(f) == m) for f, m in zip(frames[8:], ref[8:])]) == found.agreement


def test_a_missed_target_on_a_model_full_of_near_ties_says_so(hard, tmp_path):
    """The export's stage: when the FP32 masks' near-ties exceed what the target allows to differ,
    the error names them, since no layer choice can keep pixels that any rounding flips."""
    import cv2

    from unet_edge.export.exporter import ExportOptions
    from unet_edge.export.int8.stage import Int8Job, Int8Reference, write_int8

    path, model, frames, ref = hard
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, f in enumerate(frames[:8]):
        cv2.imwrite(str(calib / f"{i}.png"), f)
    opts = ExportOptions(calib=str(calib), calib_method="minmax", calib_frames=8, int8_target="tensorrt",
                         min_agreement=1.0, max_miou_drop=0.005)
    unreachable = [255 - m for m in ref[8:]]

    def export(near_ties: float):
        job = Int8Job(tmp_path / "hard.int8.onnx", path, {}, (48, 64), ["a", "b", "c", "d"], opts, module_paths(model))
        write_int8(job, Int8Reference(frames[8:], unreachable, None, near_ties), lambda _m: None)

    with pytest.raises(Int8Rejected, match=r"misses the agreement criterion .*5\.0% of the FP32 model's pixels "
                                           "are near-ties"):
        export(0.05)
    opts.min_agreement = 0.9  # 10% may differ: 5% near-ties do not explain the miss, so they go unmentioned
    with pytest.raises(Int8Rejected, match="misses the agreement criterion") as err:
        export(0.05)
    assert "near-ties" not in str(err.value) and "\n" not in str(err.value)
    assert err.value.path == tmp_path / "hard.int8.rejected.onnx" and "hard.int8.rejected.onnx" in str(err.value)
    assert not (tmp_path / "hard.int8.onnx").exists()  # nothing under the artifact's name
    assert (tmp_path / "hard.int8.rejected.onnx.json").is_file()  # the rejected graph runs: it has its sidecar


def test_wide_models_calibrate_on_fewer_frames_at_once(hard, monkeypatch):
    from unet_edge.export.int8 import calibration as int8
    from unet_edge.export.int8.graph_facts import activation_bytes

    path = hard[0]
    per_frame = activation_bytes(path)
    # stem, pre, mid, post: 8 channels each, head 4, at 48x64, plus the pre-processing tensors
    assert per_frame >= 4 * 48 * 64 * (4 * 8 + 4)
    assert int8.calib_chunk(path) == int8.CALIB_CHUNK  # a small model keeps 4 frames a chunk
    monkeypatch.setattr(int8, "CALIB_CHUNK_BYTES", 2.5 * per_frame)
    assert int8.calib_chunk(path) == 2
    monkeypatch.setattr(int8, "CALIB_CHUNK_BYTES", 0.5 * per_frame)
    assert int8.calib_chunk(path) == 1  # never zero


def test_the_quantizer_follows_the_saturation_probe(hard, tmp_path):
    """On x86 without VNNI (Zen 2) the probe finds saturation and weights go to 7 bits; elsewhere 8."""
    from unet_edge.export.int8.calibration import quantize
    from unet_edge.export.int8.saturation import int8_kernels_saturate

    path, _, frames, _ = hard
    saturates = int8_kernels_saturate()
    record = quantize(path, tmp_path / "q.onnx", frames[:8], "cpu", "minmax", warn=False)
    assert record["reduce_range"] is saturates and ("7-bit" in record["weights"]) is saturates


def test_the_runtimes_stored_probe_is_the_builders_graph():
    """The runtime keeps the probe serialized (it may not import onnx): the same graph the export builds."""
    import onnx

    from unet_edge.export.int8.saturation import probe_model
    from unet_edge.runtime.runners.int8_probe import PROBE_MODEL

    stored = onnx.load_from_string(PROBE_MODEL)
    onnx.checker.check_model(stored, full_check=True)
    assert stored == probe_model()
