"""``python -m sim_devices.esl serve`` as a process: ready line, control port, both drivers."""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal

import pytest

from devices.esl.model import TagContent
from devices.esl.mqtt import MqttEsl
from devices.esl.oepl import OeplAccessPoint
from sim_devices.control import ControlClient, ControlError

from .esltools import Mosquitto

BREAD = TagContent(sku="4001", name="Rye bread", price=Decimal("2.49"))


async def start(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, object]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sim_devices.esl",
        "serve",
        "--log-level",
        "WARNING",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    return proc, json.loads(line) if line else {}


async def test_serve_prints_one_ready_line_and_obeys_its_control_port(
    mosquitto: Mosquitto,
) -> None:
    proc, ready = await start(
        "--ap-port",
        "0",
        "--mqtt-host",
        "127.0.0.1",
        "--mqtt-port",
        str(mosquitto.port),
        "--tags",
        "4",
        "--checkin-s",
        "0.1",
        "--store",
        "s9",
        "--control-port",
        "0",
    )
    try:
        assert ready["ready"] is True
        ap, mqtt = ready["ap"], ready["mqtt"]
        assert isinstance(ap, dict)
        assert isinstance(mqtt, dict)
        assert len(ap["tags"]) == 4
        assert mqtt["tags"] == ["esl0000", "esl0001", "esl0002", "esl0003"]
        assert mqtt["prefix"] == "walkout/esl/s9"
        async with ControlClient(int(str(ready["control_port"]))) as control:
            await control.request("fault", kind="mqtt", tag="esl0001", mode="ack_error")
            await control.request("fault", kind="ap", tag=ap["tags"][1], mode="out_of_range")
            async with MqttEsl("m", "127.0.0.1", mosquitto.port, "s9", ack_timeout_s=1.0) as esl:
                assert (await esl.push_content("esl0000", BREAD)).acked
                assert not (await esl.push_content("esl0001", BREAD)).acked
            async with OeplAccessPoint("a", ap["url"], ack_timeout_s=0.5, retries=0) as oepl:
                assert (await oepl.push_content(ap["tags"][0], BREAD)).acked
                assert not (await oepl.push_content(ap["tags"][1], BREAD)).acked
            tag = (await control.request("tag", kind="mqtt", tag="esl0000"))["tag"]
            assert tag["content"]["price"] == "2.49"
            stats = await control.request("stats")
            assert stats["ap"]["uploads"] == 2
            assert stats["mqtt"]["applied"] == 1
            with pytest.raises(ControlError, match="no MQTT tag 'nope'"):
                await control.request("fault", kind="mqtt", tag="nope", mode="offline")
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sim_devices.esl",
                "control",
                "--port",
                str(ready["control_port"]),
                "miss_fraction",
                "fraction=0.5",
                "seed=1",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await cli.communicate()
            assert cli.returncode == 0
            assert len(json.loads(out)["tags"]) == 2
            await control.request("quit")
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()


async def test_unreachable_broker_exits_1(free_tcp_port: int) -> None:
    proc, ready = await start(
        "--no-ap", "--mqtt-port", str(free_tcp_port), "--mqtt-timeout-s", "0.5"
    )
    _, err = await proc.communicate()
    assert ready == {}
    assert proc.returncode == 1
    assert b"not reachable" in err
