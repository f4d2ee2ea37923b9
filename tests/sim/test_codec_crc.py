import random
import struct

import pytest
from pymodbus.client import ModbusTcpClient

from sim_devices.register_codec import (
    float32_words,
    int32_words,
    uint32_words,
    words_to_float32,
    words_to_int32,
)
from sim_devices.rtu_framing import crc16, crc_ok, with_crc

from .simtools import crc_bytes

convert = ModbusTcpClient.convert_from_registers
DATATYPE = ModbusTcpClient.DATATYPE


@pytest.mark.parametrize(
    ("body", "wire_crc"),
    [
        ("01030000000a", "c5cd"),  # the textbook read of 10 registers
        ("010300000001", "840a"),
        ("1103006b0003", "7687"),  # Modbus over serial line spec, appendix
    ],
)
def test_crc_known_vectors(body: str, wire_crc: str) -> None:
    data = bytes.fromhex(body)
    expected = bytes.fromhex(wire_crc)
    assert with_crc(data)[-2:] == expected
    assert crc_bytes(data) == expected
    assert crc16(data) == expected[0] | expected[1] << 8
    assert crc_ok(with_crc(data))
    assert not crc_ok(with_crc(data, corrupt=True))


def test_crc_agrees_with_pymodbus_on_random_frames() -> None:
    rng = random.Random(1)
    for length in range(1, 300, 7):
        data = bytes(rng.randrange(256) for _ in range(length))
        assert with_crc(data)[-2:] == crc_bytes(data)


def test_crc_check_value() -> None:
    # CRC-16/MODBUS catalogue check value over "123456789".
    assert crc16(b"123456789") == 0x4B37


def test_float32_big_word_order_matches_pymodbus() -> None:
    words = float32_words(1234.5, "big")
    assert words == list(struct.unpack(">HH", struct.pack(">f", 1234.5)))
    assert convert(words, DATATYPE.FLOAT32, word_order="big") == pytest.approx(1234.5)
    assert words_to_float32(words, "big") == 1234.5


def test_int32_little_word_order_twos_complement() -> None:
    words = int32_words(-12345, "little")
    assert words == [0xCFC7, 0xFFFF]  # -12345 = 0xFFFFCFC7, low word first
    assert convert(words, DATATYPE.INT32, word_order="little") == -12345
    assert words_to_int32(words, "little") == -12345
    assert int32_words(2**40, "little") == [0xFFFF, 0x7FFF]  # saturates


def test_uint32_both_orders() -> None:
    assert uint32_words(20261234, "big") == [0x0135, 0x2972]
    assert uint32_words(20261234, "little") == [0x2972, 0x0135]
    with pytest.raises(ValueError, match="uint32"):
        uint32_words(-1)
