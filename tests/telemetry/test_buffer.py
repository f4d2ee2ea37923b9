from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facility.telemetry.buffer import (
    HEADER_BYTES,
    BufferWriteError,
    DiskBuffer,
    TelemetryBufferError,
    encode_record,
)


def payload(i: int) -> bytes:
    return f"m,store=s v={i}.0 {1000 + i}".encode()  # fixed length for i < 10


RECORD = HEADER_BYTES + len(payload(0))


def drain(buf: DiskBuffer) -> list[bytes]:
    out = []
    while (batch := buf.peek()) is not None:
        out.append(batch.payload)
        buf.ack(batch)
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def test_fifo_survives_reopen(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path) as buf:
        for i in range(4):
            buf.append(payload(i), 1)
        first = buf.peek()
        assert first is not None
        assert first.payload == payload(0)
        buf.ack(first)
    with DiskBuffer(tmp_path) as buf:
        assert len(buf) == 3
        assert buf.points == 3
        assert drain(buf) == [payload(1), payload(2), payload(3)]
    with DiskBuffer(tmp_path) as buf:
        assert len(buf) == 0


def test_byte_bound_evicts_exactly_the_oldest(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path, max_bytes=3 * RECORD) as buf:
        evicted = [buf.append(payload(i), 10) for i in range(5)]
        assert evicted == [0, 0, 0, 10, 10]
        assert buf.evicted_batches == 2
        assert buf.evicted_points == 20
        assert buf.size_bytes == 3 * RECORD
    with DiskBuffer(tmp_path, max_bytes=3 * RECORD) as buf:
        assert drain(buf) == [payload(2), payload(3), payload(4)]


def test_point_bound(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path, max_points=25) as buf:
        for i in range(4):
            buf.append(payload(i), 10)
        assert buf.points == 20
        assert buf.evicted_points == 20
        assert drain(buf) == [payload(2), payload(3)]


def test_batch_larger_than_bound_is_refused(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path, max_bytes=RECORD) as buf:
        buf.append(payload(1), 1)
        with pytest.raises(TelemetryBufferError, match="cannot fit"):
            buf.append(payload(1) * 2, 2)
        assert len(buf) == 1


def test_segments_are_deleted_once_delivered(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path, segment_bytes=2 * RECORD) as buf:
        for i in range(6):
            buf.append(payload(i), 1)
        assert len(segments(tmp_path)) == 3
        for _ in range(3):
            batch = buf.peek()
            assert batch is not None
            buf.ack(batch)
        assert len(segments(tmp_path)) == 2
        assert drain(buf) == [payload(3), payload(4), payload(5)]
        assert sum(p.stat().st_size for p in segments(tmp_path)) == 0


@pytest.mark.parametrize("cut", [1, HEADER_BYTES - 1, HEADER_BYTES + 3, RECORD - 1])
def test_torn_tail_loses_only_the_last_batch(tmp_path: Path, cut: int) -> None:
    with DiskBuffer(tmp_path) as buf:
        for i in range(3):
            buf.append(payload(i), 1)
    (seg,) = segments(tmp_path)
    # A crash after `cut` bytes of a fourth record reached the disk.
    with seg.open("ab") as f:
        f.write(encode_record(payload(3), 1)[:cut])
    with DiskBuffer(tmp_path) as buf:
        assert buf.truncated_bytes == cut
        assert len(buf) == 3
        buf.append(payload(4), 1)
    with DiskBuffer(tmp_path) as buf:
        assert buf.truncated_bytes == 0
        assert drain(buf) == [payload(0), payload(1), payload(2), payload(4)]


def test_corrupted_last_record_is_dropped_older_kept(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path) as buf:
        for i in range(3):
            buf.append(payload(i), 1)
    (seg,) = segments(tmp_path)
    data = bytearray(seg.read_bytes())
    data[-2] ^= 0xFF  # a flipped bit in the last payload: CRC mismatch
    seg.write_bytes(bytes(data))
    with DiskBuffer(tmp_path) as buf:
        assert buf.truncated_bytes == RECORD
        assert drain(buf) == [payload(0), payload(1)]


def test_damage_in_an_older_segment_keeps_later_segments(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path, segment_bytes=2 * RECORD) as buf:
        for i in range(6):
            buf.append(payload(i), 1)
    first = segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[RECORD + 1] ^= 0xFF  # magic of the second record
    first.write_bytes(bytes(data))
    with DiskBuffer(tmp_path, segment_bytes=2 * RECORD) as buf:
        assert buf.corrupt_bytes == RECORD
        assert drain(buf) == [payload(0), payload(2), payload(3), payload(4), payload(5)]


def test_lost_head_file_replays_rather_than_loses(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path) as buf:
        for i in range(3):
            buf.append(payload(i), 1)
        batch = buf.peek()
        assert batch is not None
        buf.ack(batch)
    (tmp_path / "head").unlink()
    with DiskBuffer(tmp_path) as buf:
        assert drain(buf) == [payload(0), payload(1), payload(2)]


def test_disk_full_is_a_clear_error_and_keeps_older_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def half_then_enospc(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 8:  # a part of the record lands, then the disk is full
            return real_write(fd, bytes(data)[:8])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with DiskBuffer(tmp_path) as buf:
        buf.append(payload(0), 1)
        (seg,) = segments(tmp_path)
        size_before = seg.stat().st_size
        monkeypatch.setattr("facility.telemetry.buffer.os.write", half_then_enospc)
        with pytest.raises(BufferWriteError, match="disk full") as info:
            buf.append(payload(1), 1)
        assert info.value.errno == errno.ENOSPC
        monkeypatch.undo()
        assert seg.stat().st_size == size_before  # the partial record was cut off
        assert len(buf) == 1
        buf.append(payload(2), 1)
    with DiskBuffer(tmp_path) as buf:
        assert buf.truncated_bytes == 0
        assert drain(buf) == [payload(0), payload(2)]


def test_closed_buffer_refuses_work(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path)
    buf.close()
    buf.close()
    with pytest.raises(TelemetryBufferError, match="closed"):
        buf.append(payload(0), 1)


def test_bad_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        DiskBuffer(tmp_path, max_bytes=4)
    with pytest.raises(ValueError, match="max_points"):
        DiskBuffer(tmp_path, max_points=0)


WRITER_SCRIPT = """
import sys
from facility.telemetry.buffer import DiskBuffer
buf = DiskBuffer(sys.argv[1], segment_bytes=4096, fsync=False)
i = 0
while True:
    buf.append(f"m,store=s v={i}.0 {i}".encode() * (1 + i % 7), 1 + i % 7)
    i += 1
"""


def test_process_killed_mid_append_leaves_a_clean_prefix(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(tmp_path)])
    try:
        deadline = time.monotonic() + 20
        while len(segments(tmp_path)) < 20:  # ~80 KB written, then kill it mid-stream
            assert proc.poll() is None, "the writer process died on its own"
            assert time.monotonic() < deadline, "the writer process wrote too little"
            time.sleep(0.005)  # polling the directory of a process we started
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with DiskBuffer(tmp_path) as buf:
        assert buf.corrupt_bytes == 0
        got = drain(buf)
    assert len(got) > 100
    for i, data in enumerate(got):
        assert data == f"m,store=s v={i}.0 {i}".encode() * (1 + i % 7)
