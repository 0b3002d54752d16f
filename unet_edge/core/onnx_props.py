"""An ONNX file's ``metadata_props``, read from the protobuf wire format without the onnx package.

The runtime never imports onnx, and an ONNX Runtime session would load (and optimise) the whole
graph just to hand back a few strings. ``ModelProto`` is a flat list of fields: this walks the
top level, seeks past every other field (the graph included) and decodes only field 14, the
repeated ``StringStringEntryProto {key = 1; value = 2}``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

__all__ = ["metadata_props"]

METADATA_PROPS = 14  # ModelProto.metadata_props
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5  # protobuf wire types (groups are not used by ONNX)


def _varint(f: BinaryIO, eof_ok: bool = False) -> int | None:
    value = shift = 0
    while True:
        b = f.read(1)
        if not b:
            if eof_ok and shift == 0:
                return None
            raise ValueError("truncated varint")
        value |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(f: BinaryIO, size: int, wanted: set[int]):
    """(field number, bytes) of each length-delimited field in ``wanted``; skips all others."""
    while (tag := _varint(f, eof_ok=True)) is not None:
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == VARINT:
            _varint(f)
            continue
        length = {FIXED64: 8, FIXED32: 4}.get(wire)
        if length is None:
            if wire != LENGTH:
                raise ValueError(f"unsupported wire type {wire}")
            length = _varint(f)
        if f.tell() + length > size:
            raise ValueError("field runs past the end of the file")
        if wire == LENGTH and number in wanted:
            yield number, f.read(length)
        else:
            f.seek(length, io.SEEK_CUR)


def metadata_props(path: str | Path) -> dict[str, str]:
    """``{key: value}`` of the model's ``metadata_props``; ValueError when it is not a ModelProto."""
    path = Path(path)
    size = path.stat().st_size
    props: dict[str, str] = {}
    with path.open("rb") as f:
        for _, entry in _fields(f, size, {METADATA_PROPS}):
            kv = dict(_fields(io.BytesIO(entry), len(entry), {1, 2}))
            props[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
    return props
