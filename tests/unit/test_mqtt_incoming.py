"""The MQTT client's incoming queue: discards counted by the owner, told to the log per burst."""

from __future__ import annotations

import asyncio
import logging

import aiomqtt
import pytest

from devices.mqtt_incoming import Overflow, incoming_queue_type

LOGGER = "test.incoming"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _overflow(clock: Clock) -> Overflow:
    return Overflow(
        "cams", 8, logging.getLogger(LOGGER), quiet_s=1.0, report_every_s=60.0, clock=clock
    )


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_a_burst_is_one_warning_and_one_summary_however_often_the_queue_refills(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    overflow = _overflow(clock)
    for _ in range(50):  # emptied and refilled many times, never quiet for 1 s
        for _ in range(40):
            overflow.discarded()
        clock.now += 0.5
        overflow.tick()
    assert overflow.in_burst
    assert len(_lines(caplog)) == 1
    clock.now += 0.6
    overflow.tick()
    assert not overflow.in_burst
    assert _lines(caplog) == [
        (
            "WARNING",
            "cams: incoming MQTT queue full (8 messages); discarding new messages "
            "(counted, not logged, until it keeps up for 1 s)",
        ),
        ("INFO", "cams: incoming MQTT queue keeps up again: 2000 messages discarded in 24.5 s"),
    ]
    overflow.tick()
    overflow.end()
    assert len(_lines(caplog)) == 2  # nothing more to tell


def test_a_long_burst_reports_its_running_count_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    overflow = _overflow(clock)
    for _ in range(1200):  # 150 s of 8 discards a second (a step float sums exactly)
        overflow.discarded()
        clock.now += 0.125
    overflow.end()
    lines = _lines(caplog)
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "WARNING", "INFO"]
    assert (
        lines[1][1] == "cams: incoming MQTT queue still overflowing: 480 discarded in the last 60 s"
    )
    assert lines[3][1].endswith("1200 messages discarded in 149.9 s")


async def test_the_queue_reports_what_finds_it_full_instead_of_raising() -> None:
    discarded: list[int] = []
    queue = incoming_queue_type(lambda: discarded.append(1))(maxsize=2)
    messages = [aiomqtt.Message(f"t/{n}", b"", 0, False, n, None) for n in range(5)]
    for message in messages:
        queue.put_nowait(message)  # aiomqtt's callback: no QueueFull, so no log line from it
    assert len(discarded) == 3
    assert [await queue.get(), queue.get_nowait()] == messages[:2]  # the newcomers went
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
