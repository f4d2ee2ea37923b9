import math

import pytest

from devices.modbus.registers import (
    DataType,
    ReadBlock,
    RegisterImage,
    RegisterSpan,
    Table,
    WordOrder,
    decode,
    encode,
    plan_reads,
)


@pytest.mark.parametrize(
    ("registers", "dtype", "order", "expected"),
    [
        ([0x3F80, 0x0000], DataType.FLOAT32, WordOrder.BIG, 1.0),  # IEEE-754 1.0
        ([0x0000, 0x3F80], DataType.FLOAT32, WordOrder.LITTLE, 1.0),
        ([0xC2F6, 0xE979], DataType.FLOAT32, WordOrder.BIG, -123.456),
        ([0xFFFF, 0xFFFE], DataType.INT32, WordOrder.BIG, -2),
        ([0xFFFE, 0xFFFF], DataType.INT32, WordOrder.LITTLE, -2),
        ([0x0001, 0x0000], DataType.INT32, WordOrder.LITTLE, 1),
        ([0x0001, 0x0000], DataType.UINT32, WordOrder.BIG, 65536),
        ([0xFFFF], DataType.INT16, WordOrder.BIG, -1),
        ([0xFFFF], DataType.UINT16, WordOrder.BIG, 65535),
    ],
)
def test_decode_known_vectors(registers, dtype, order, expected):
    assert decode(registers, dtype, order) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", list(DataType))
@pytest.mark.parametrize("order", list(WordOrder))
def test_encode_is_inverse_of_decode(dtype, order):
    value = -1234 if dtype in (DataType.INT16, DataType.INT32) else 4321
    assert decode(encode(value, dtype, order), dtype, order) == value


def test_decode_rejects_wrong_width():
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], DataType.FLOAT32)


def test_nan_decodes_as_nan():
    assert math.isnan(decode([0x7FC0, 0x0000], DataType.FLOAT32))


def test_plan_merges_contiguous_spans_only():
    spans = [RegisterSpan(Table.INPUT, a, 2) for a in (0, 2, 4)] + [
        RegisterSpan(Table.INPUT, 20, 1)
    ]
    assert plan_reads(spans) == [ReadBlock(Table.INPUT, 0, 6), ReadBlock(Table.INPUT, 20, 1)]


def test_plan_bridges_gaps_when_profile_allows():
    spans = [RegisterSpan(Table.INPUT, 0, 8), RegisterSpan(Table.INPUT, 20, 2)]
    assert plan_reads(spans, max_gap=12) == [ReadBlock(Table.INPUT, 0, 22)]
    assert len(plan_reads(spans, max_gap=11)) == 2


def test_plan_respects_125_register_limit():
    spans = [RegisterSpan(Table.HOLDING, a, 2) for a in range(0, 300, 2)]
    blocks = plan_reads(spans)
    assert all(b.count <= 125 for b in blocks)
    assert sum(b.count for b in blocks) == 300
    assert len(blocks) == 3  # ceil(300 / 124): a two-register value never straddles a read


def test_plan_keeps_tables_apart():
    spans = [RegisterSpan(Table.HOLDING, 0, 1), RegisterSpan(Table.INPUT, 1, 1)]
    assert {b.table for b in plan_reads(spans)} == {Table.HOLDING, Table.INPUT}


def test_image_round_trip_and_missing_register():
    image = RegisterImage()
    image.store(ReadBlock(Table.INPUT, 10, 3), [1, 2, 3])
    assert image.get(Table.INPUT, 11, 2) == [2, 3]
    with pytest.raises(KeyError):
        image.get(Table.HOLDING, 10, 1)
    with pytest.raises(ValueError, match="returned 2"):
        image.store(ReadBlock(Table.INPUT, 0, 3), [1, 2])


@pytest.mark.parametrize("dtype", list(DataType))
@pytest.mark.parametrize("order", list(WordOrder))
def test_locator_decodes_like_decode(dtype, order):
    from devices.modbus.registers import block_bytes, locate

    value = -98765 if dtype is DataType.INT32 else 1234
    registers = [0xAAAA, *encode(value, dtype, order), 0x5555]
    blocks = [ReadBlock(Table.INPUT, 100, 1), ReadBlock(Table.INPUT, 10, len(registers))]
    loc = locate(blocks, RegisterSpan(Table.INPUT, 11, dtype.width), dtype, order)
    assert loc.value([block_bytes([0]), block_bytes(registers)]) == decode(
        registers[1 : 1 + dtype.width], dtype, order
    )


def test_locate_refuses_uncovered_span():
    from devices.modbus.registers import locate

    with pytest.raises(ValueError, match="no read covers"):
        locate(
            [ReadBlock(Table.INPUT, 0, 4)],
            RegisterSpan(Table.HOLDING, 0, 2),
            DataType.FLOAT32,
            WordOrder.BIG,
        )


def test_plan_decoder_direct_pass_matches_known_words():
    from devices.modbus.registers import PlanDecoder, block_bytes

    # Two float32 (ABCD) then a reserved register then a uint16 mask: IEEE-754 words by hand.
    registers = [0x3F80, 0x0000, 0xC2F6, 0xE979, 0xDEAD, 0x0005]
    blocks = [ReadBlock(Table.INPUT, 0, len(registers))]
    items = [
        (RegisterSpan(Table.INPUT, 0, 2), DataType.FLOAT32, WordOrder.BIG),
        (RegisterSpan(Table.INPUT, 2, 2), DataType.FLOAT32, WordOrder.BIG),
        (RegisterSpan(Table.INPUT, 5, 1), DataType.UINT16, WordOrder.BIG),
    ]
    values = PlanDecoder(blocks, items).decode([block_bytes(registers)])
    assert values[0] == 1.0
    assert values[1] == pytest.approx(-123.456, rel=1e-6)
    assert values[2] == 5


def test_plan_decoder_mixed_blocks_orders_and_overlaps():
    from devices.modbus.registers import PlanDecoder, block_bytes

    holding = [0xFFFE, 0xFFFF, 0x0001]  # int32 -2 low word first, then a uint16 1
    inputs = [0x0000, 0x3F80, 0x0007]  # float32 1.0 low word first, then 7
    blocks = [ReadBlock(Table.HOLDING, 10, 3), ReadBlock(Table.INPUT, 0, 3)]
    items = [
        (RegisterSpan(Table.INPUT, 2, 1), DataType.UINT16, WordOrder.BIG),  # asked out of order
        (RegisterSpan(Table.HOLDING, 10, 2), DataType.INT32, WordOrder.LITTLE),
        (RegisterSpan(Table.INPUT, 0, 2), DataType.FLOAT32, WordOrder.LITTLE),
        (RegisterSpan(Table.HOLDING, 12, 1), DataType.UINT16, WordOrder.BIG),
        (RegisterSpan(Table.HOLDING, 12, 1), DataType.INT16, WordOrder.BIG),  # same register again
    ]
    values = PlanDecoder(blocks, items).decode([block_bytes(holding), block_bytes(inputs)])
    assert values == (7, -2, 1.0, 1, 1)
