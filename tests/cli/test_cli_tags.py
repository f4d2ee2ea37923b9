"""``walkout tags push`` as a child process against MQTT tags on a real Mosquitto broker.

Expected content is what the simulated tags say they received, compared with the price
file the test wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto, running_broker

from sim_devices.esl.mqtt_tags import MqttTagEmulator

from .clitools import store_yaml, table_rows, walkout

STORE = "test-store"  # store.id in clitools.store_yaml: the MQTT topics carry it
TAGS = ["t01", "t02", "t03", "t04"]


@pytest.fixture
def broker(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    with running_broker(free_tcp_port, tmp_path) as mosquitto:
        yield mosquitto


@pytest.fixture
async def tags(broker: Mosquitto) -> AsyncIterator[MqttTagEmulator]:
    emulator = MqttTagEmulator("127.0.0.1", broker.port, STORE, TAGS, reconnect_s=0.1)
    await emulator.start()
    yield emulator
    await emulator.stop()


def esl_store(tmp_path: Path, broker: Mosquitto) -> None:
    store_yaml(
        tmp_path / "store.yaml",
        tcp_port=1502,
        extra={
            "esl": {
                "backend": {
                    "type": "mqtt",
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "ack_timeout_s": 0.5,
                },
                "retries": 1,
                "shelves": {"A1": TAGS},
            }
        },
    )


def results(stdout: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table_rows(stdout) if row and row[0] in TAGS}


async def test_price_file_reaches_every_tag(
    tmp_path: Path, broker: Mosquitto, tags: MqttTagEmulator
) -> None:
    esl_store(tmp_path, broker)
    (tmp_path / "prices.csv").write_text(
        "tag,sku,name,price,unit_price\n"
        "t01,4001,Oat milk 1l,1.49,1.49 EUR/l\n"
        "t02,4002,Rye bread,2.95,\n"
    )
    result = await walkout("tags", "push", "--prices", "prices.csv", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert results(result.stdout) == {"t01": "updated", "t02": "updated"}
    assert "2 of 2 tags updated" in result.stdout
    shown = tags.tag("t01").content
    assert shown is not None
    assert (shown["name"], shown["price"], shown["unit_price"]) == (
        "Oat milk 1l",
        "1.49",
        "1.49 EUR/l",
    )
    assert tags.tag("t03").content is None  # not in the file: untouched


async def test_tag_that_never_acks_is_reported_not_updated(
    tmp_path: Path, broker: Mosquitto, tags: MqttTagEmulator
) -> None:
    esl_store(tmp_path, broker)
    tags.set_fault("t03", "miss_acks")
    result = await walkout("tags", "push", "--test-pattern", cwd=tmp_path)
    assert result.code == 1, result.stderr
    found = results(result.stdout)
    assert found["t03"].startswith("NOT updated")
    assert [found[t] for t in ("t01", "t02", "t04")] == ["updated"] * 3
    assert "not updated: t03" in result.stdout


async def test_bad_price_file_names_the_line(tmp_path: Path, broker: Mosquitto) -> None:
    esl_store(tmp_path, broker)
    (tmp_path / "prices.csv").write_text("tag,sku,name,price\nt01,1,Milk,1.0\nt02,2,Bread,cheap\n")
    result = await walkout("tags", "push", "--prices", "prices.csv", cwd=tmp_path)
    assert result.code == 2
    assert "prices.csv:3: price 'cheap' is not a number" in result.stderr
