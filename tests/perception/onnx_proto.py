"""A minimal ONNX model writer on raw protobuf wire format (the onnx package is not installed).

Only what the tests need: float/int64 initialisers, nodes with int/ints attributes,
typed inputs/outputs with fixed or symbolic dimensions. Field numbers are those of
onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto, TypeProto); ONNX Runtime parsing the result is the check.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

FLOAT = 1
INT64 = 7
_ATTR_INT = 2
_ATTR_INTS = 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def tensor(name: str, dims: Sequence[int], values: Sequence[float], data_type: int) -> bytes:
    fmt = f"<{len(values)}{'f' if data_type == FLOAT else 'q'}"
    raw = struct.pack(fmt, *values)
    return b"".join(
        [*(_int(1, d) for d in dims), _int(2, data_type), _str(8, name), _bytes(9, raw)]
    )


def attr_int(name: str, value: int) -> bytes:
    return _str(1, name) + _int(3, value) + _int(20, _ATTR_INT)


def attr_ints(name: str, values: Sequence[int]) -> bytes:
    return _str(1, name) + b"".join(_int(8, v) for v in values) + _int(20, _ATTR_INTS)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], *attrs: bytes) -> bytes:
    return b"".join(
        [
            *(_str(1, i) for i in inputs),
            *(_str(2, o) for o in outputs),
            _str(3, f"{op}_{outputs[0]}"),
            _str(4, op),
            *(_bytes(5, a) for a in attrs),
        ]
    )


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    dim_msgs = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, elem_type) + _bytes(2, dim_msgs)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opset: int = 13,
) -> bytes:
    graph = b"".join(
        [
            *(_bytes(1, n) for n in nodes),
            _str(2, "test"),
            *(_bytes(5, t) for t in initializers),
            *(_bytes(11, i) for i in inputs),
            *(_bytes(12, o) for o in outputs),
        ]
    )
    opset_id = _str(1, "") + _int(2, opset)
    return _int(1, 8) + _str(2, "walkout-tests") + _bytes(7, graph) + _bytes(8, opset_id)


def mean_scored_detector(size: int, batch: int | str = "batch") -> bytes:
    """``images [batch, 3, size, size]`` -> ``dets [batch, 2, 6]``.

    Row 0 is a person (class 0) at ``(size/8, size/16, 5size/8, 15size/16)``, row 1 a
    class-2 object at ``(0, 0, size/2, size/2)``; both score the mean of the image's
    input values, so each image of a batch scores differently.
    """
    s = float(size)
    base = [s / 8, s / 16, 5 * s / 8, 15 * s / 16, 0.0, 0.0, 0.0, 0.0, s / 2, s / 2, 0.0, 2.0]
    mask = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0] * 2
    return model(
        nodes=[
            node(
                "ReduceMean",
                ["images"],
                ["mean"],
                attr_ints("axes", [1, 2, 3]),
                attr_int("keepdims", 1),
            ),
            node("Reshape", ["mean", "shape"], ["mean3"]),
            node("Mul", ["mean3", "mask"], ["scores"]),
            node("Add", ["scores", "base"], ["dets"]),
        ],
        initializers=[
            tensor("shape", [3], [-1, 1, 1], INT64),
            tensor("mask", [1, 2, 6], mask, FLOAT),
            tensor("base", [1, 2, 6], base, FLOAT),
        ],
        inputs=[value_info("images", FLOAT, [batch, 3, size, size])],
        outputs=[value_info("dets", FLOAT, [batch, 2, 6])],
    )
