"""RTU request splitting: length by function code, CRC, resynchronisation, wire times."""

from sim_devices.rtu_framing import RtuRequestSplitter

from .simtools import rtu

CHAR = 10 / 19200
READ = rtu(bytes.fromhex("010300000002"))


def splitter() -> RtuRequestSplitter:
    return RtuRequestSplitter(CHAR, 0.02)


def test_whole_request_and_wire_time() -> None:
    s = splitter()
    frames = s.feed(READ, 5.0)
    assert [f.adu for f in frames] == [READ]
    assert frames[0].end_s == 5.0 + 8 * CHAR


def test_request_in_pieces() -> None:
    s = splitter()
    assert s.feed(READ[:3], 1.0) == []
    assert [f.adu for f in s.feed(READ[3:], 1.001)] == [READ]


def test_fc16_length_from_byte_count() -> None:
    s = splitter()
    frame = rtu(bytes.fromhex("0110006400020400010005"))
    assert s.feed(frame[:7], 1.0) == []
    assert [f.adu for f in s.feed(frame[7:], 1.0)] == [frame]


def test_bad_crc_then_good_frame_resynchronises() -> None:
    s = splitter()
    bad = READ[:-1] + bytes([READ[-1] ^ 0xFF])
    frames = s.feed(bad + READ, 1.0)
    assert [f.adu for f in frames] == [READ]
    assert s.crc_errors == 1
    assert s.dropped_bytes == 8
    assert s.pending == 0


def test_garbage_flushed_on_silence() -> None:
    s = splitter()
    assert s.feed(b"\x07\x55\x99", 1.0) == []
    assert s.pending == 3
    assert s.flush() == []
    assert s.pending == 0
    assert s.crc_errors == 1
    # a later frame is unaffected
    assert [f.adu for f in s.feed(READ, 2.0)] == [READ]


def test_stale_bytes_dropped_when_next_burst_comes_after_silence() -> None:
    s = splitter()
    s.feed(READ[:5], 1.0)  # master gave up mid-frame
    assert [f.adu for f in s.feed(READ, 1.5)] == [READ]
    assert s.crc_errors == 1


def test_unknown_function_code_frame_ends_with_silence() -> None:
    s = splitter()
    frame = rtu(bytes.fromhex("012b0e0100"))  # FC43 read device identification
    assert s.feed(frame, 1.0) == []
    assert [f.adu for f in s.flush()] == [frame]


def test_back_to_back_requests() -> None:
    s = splitter()
    other = rtu(bytes.fromhex("020400000001"))
    frames = s.feed(READ + other, 1.0)
    assert [f.adu for f in frames] == [READ, other]
    assert frames[1].end_s == 1.0 + 16 * CHAR
