"""Every parser of user text, fed anything: it returns a value or raises one error line of ours,
never a traceback of another kind; and what it accepts it reads back as written."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from unet_edge.core.errors import ConfigError, UnetEdgeError  # noqa: E402

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text as users type it: printable, digits, separators and the characters the grammars use.
TEXT = st.one_of(st.text(max_size=40),
                 st.text(alphabet="0123456789x*,:.-+/@[]{}rtspmp4 eE", max_size=24))


def one_line(call, *args, error: type[Exception] = ConfigError):
    """``call(*args)``: its value, or None after an ``error`` of one non-empty line."""
    try:
        return call(*args)
    except error as exc:
        text = str(exc)
        assert text.strip() and "\n" not in text, repr(text)
        return None


@FAST
@given(TEXT)
def test_parse_size(text):
    from unet_edge.core.parse import parse_size

    value = one_line(parse_size, text)
    assert value is None or (len(value) == 2 and min(value) >= 16)


@FAST
@given(st.integers(16, 8192), st.integers(16, 8192), st.sampled_from(["x", "X", "*"]))
def test_parse_size_reads_back(h, w, sep):
    from unet_edge.core.parse import parse_size

    assert parse_size(f"{h}{sep}{w}") == (h, w)


@FAST
@given(TEXT)
def test_parse_range_and_ints(text):
    from unet_edge.core.parse import parse_ints, parse_range

    one_line(parse_range, text, "--scale")
    one_line(parse_ints, text, "--decoder")


@FAST
@given(TEXT)
def test_parse_triple(text):
    from unet_edge.models.contract import parse_triple

    value = one_line(parse_triple, text, "--mean")
    assert value is None or len(value) == 3


@FAST
@given(TEXT)
def test_model_kwargs(text):
    from unet_edge.models.foreign import parse_kwargs

    value = one_line(parse_kwargs, text, error=UnetEdgeError)
    assert value is None or isinstance(value, dict)


@FAST
@given(TEXT)
def test_class_lists(text):
    from unet_edge.data.classes import class_table

    value = one_line(class_table, text, error=UnetEdgeError)
    assert value is None or len(value.names) >= 1


@FAST
@given(TEXT, st.one_of(st.none(), st.floats(allow_nan=True)), st.one_of(st.none(), st.integers(-5, 5)))
def test_save_specs(text, segment, keep):
    from unet_edge.runtime.recording import parse_save

    spec = one_line(parse_save, text, segment, keep)
    assert spec is None or (spec.segment is None or spec.segment > 0) and (spec.keep is None or spec.keep >= 1)


@FAST
@given(TEXT)
def test_live_view_addresses(text):
    from unet_edge.runtime.http_base import parse_address

    value = one_line(parse_address, text)
    assert value is None or 0 <= value[1] <= 65535


@FAST
@given(st.sampled_from(["rtsp://", "rtp://", "rtsp://@", "rtp://127.0.0.1", "rtsp://127.0.0.1"]),
       st.text(alphabet="0123456789:/-@abc.", max_size=16))
def test_network_outputs(scheme, rest):
    """Hosts are loopback or empty here: a resolver is not asked about made-up names."""
    from unet_edge.runtime.network_out import parse_network

    one_line(parse_network, scheme + rest)


@FAST
@given(TEXT)
def test_calibration_specs(text):
    """``--calib`` / ``--verify-data``: LAYOUT:PATH, a folder or a video; anything else is one line."""
    pytest.importorskip("torch")
    from unet_edge.export.frame_sets import load_frames

    one_line(load_frames, text, (16, 16), 1, error=UnetEdgeError)


@FAST
@given(TEXT)
def test_bench_backends_and_int8_methods(text):
    from unet_edge.bench.backends import parse_backends
    from unet_edge.export.int8.calibration import parse_methods

    one_line(parse_backends, text, error=UnetEdgeError)
    one_line(parse_methods, text, error=UnetEdgeError)
