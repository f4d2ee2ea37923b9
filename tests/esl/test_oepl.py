"""The OpenEPaperLink driver against the simulated access point, over real HTTP and WebSocket.

What the tag ends up showing is read from the simulator's side (its decoded
palette indices), so a push counts only if the right pixels reached the tag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import numpy as np
import pytest

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.errors import DeviceCommandError, DeviceConnectionError
from devices.esl.displays import display_for
from devices.esl.model import PushOutcome, TagContent, TagMode, TagStatus
from devices.esl.oepl import OeplAccessPoint
from devices.esl.render import render_tag
from devices.health import HealthChanged, HealthState
from sim_devices.esl.ap import SimAccessPoint, make_tags

from .esltools import wait_until

MILK = TagContent(
    sku="4006381333931",
    name="Whole milk 1 l",
    price=Decimal("1.29"),
    unit_price="1.29 EUR/l",
    promo="2 for 2.00",
)
BREAD = TagContent(sku="4001", name="Rye bread", price=Decimal("2.49"))
MAC = ["0000021EDE00000" + str(n) for n in range(6)]  # make_tags: 0000021EDE + 6 hex digits
HW = [0x01, 0x00, 0x02, 0x01, 0x00, 0x02]  # make_tags cycles hwType 1, 0, 2


@pytest.fixture
async def ap() -> AsyncIterator[SimAccessPoint]:
    async with SimAccessPoint(make_tags(6), checkin_s=0.1) as sim:
        yield sim


@pytest.fixture
async def driver(ap: SimAccessPoint) -> AsyncIterator[OeplAccessPoint]:
    async with OeplAccessPoint(
        "ap1", ap.url, ack_timeout_s=0.6, retries=1, busy_retry_s=0.05
    ) as esl:
        await esl.wait_websocket(5)
        yield esl


async def test_tag_list_with_battery_and_panel_from_get_db(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    snapshot = await driver.read()
    by_id = snapshot.by_id()
    assert sorted(by_id) == MAC
    for mac, hw in zip(MAC, HW, strict=True):
        status = by_id[mac]
        assert status.hw_type == hw
        assert status.battery_mv == ap.tag(mac).battery.millivolts
        assert status.battery_pct is None  # OEPL tags do not report it
        assert status.pending == 0
        assert status.content_hash is None  # nothing shown yet (hash all zeros)
        assert status.rssi_dbm == ap.tag(mac).rssi


async def test_push_is_acked_after_the_tag_checked_in_and_shows_the_image(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    result = await driver.push_content(MAC[0], MILK)
    assert result.outcome is PushOutcome.ACKED
    assert result.attempts == 1
    tag = ap.tag(MAC[0])
    assert tag.xfers == 1  # fetched at a check-in
    assert result.content_hash == tag.md5  # the AP's hash, reported back
    assert result.content_hash is not None
    assert result.content_hash.endswith("0" * 16)
    assert tag.battery.millivolts < 3000
    assert tag.shown is not None
    expected = np.asarray(render_tag(MILK, display_for(0x01)).image)
    assert (tag.shown.indices == expected).mean() > 0.995  # the pixels that reached the tag
    assert driver.statuses[MAC[0]].update_count == 1
    assert driver.statuses[MAC[0]].mode is TagMode.NORMAL


async def test_pushing_what_is_already_shown_is_acked_without_an_upload(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    assert (await driver.push_content(MAC[1], BREAD)).acked
    again = await driver.push_content(MAC[1], BREAD)
    assert again.acked
    assert again.reason == "already shown"
    assert ap.tag(MAC[1]).uploads == 1


async def test_out_of_range_tag_is_reported_after_the_retries(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    ap.set_fault(MAC[2], "out_of_range")
    result = await driver.push_content(MAC[2], MILK)
    assert result.outcome is PushOutcome.TIMEOUT
    assert result.attempts == 2
    assert "did not fetch the update" in result.reason
    assert ap.tag(MAC[2]).uploads == 2
    assert ap.tag(MAC[2]).xfers == 0
    assert driver.statuses[MAC[2]].pending == 2  # the AP keeps both uploads queued


async def test_a_dropped_transfer_ends_the_attempt_early(ap: SimAccessPoint) -> None:
    ap.set_fault(MAC[3], "xfer_timeout")
    async with OeplAccessPoint("ap1", ap.url, ack_timeout_s=30.0, retries=1) as esl:
        await esl.wait_websocket(5)
        result = await esl.push_content(MAC[3], BREAD)
    assert result.outcome is PushOutcome.TIMEOUT
    assert "dropped the transfer" in result.reason
    assert result.attempts == 2
    assert result.latency_s < 30.0  # did not wait out the ack timeout


async def test_a_paused_ap_is_retried(driver: OeplAccessPoint, ap: SimAccessPoint) -> None:
    ap.set_run_status(1)
    push = asyncio.create_task(driver.push_content(MAC[4], BREAD))
    await wait_until(lambda: ap.requests.get("imgupload", 0) >= 2, what="409 answers")
    assert ap.tag(MAC[4]).uploads == 0
    ap.set_run_status(2)
    result = await push
    assert result.acked
    assert ap.tag(MAC[4]).uploads == 1


async def test_unknown_tag_fails_at_once(driver: OeplAccessPoint, ap: SimAccessPoint) -> None:
    result = await driver.push_content("0000021EDEFFFFFF", BREAD)
    assert result.outcome is PushOutcome.FAILED
    assert "does not know" in result.reason
    with pytest.raises(DeviceCommandError, match="mac not found"):
        await driver.tag_cmd("0000021EDEFFFFFF", "reboot")
    with pytest.raises(ValueError, match="unknown tag command"):
        await driver.tag_cmd(MAC[0], "selfdestruct")


async def test_status_arrives_over_the_websocket_without_polling(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    image = render_tag(BREAD, display_for(0x00)).encode("jpeg")
    before = ap.requests["get_db"]
    async with aiohttp.ClientSession() as session:  # another client uploads
        form = aiohttp.FormData()
        form.add_field("mac", MAC[1])
        form.add_field("dither", "0")
        form.add_field("file", image, filename="image.jpg", content_type="image/jpeg")
        async with session.post(ap.url + "/imgupload", data=form) as response:
            assert response.status == 200
    await wait_until(lambda: driver.statuses[MAC[1]].update_count == 1, what="ws update")
    assert driver.statuses[MAC[1]].content_hash == ap.tag(MAC[1]).md5
    assert ap.requests["get_db"] == before
    assert driver.ws_messages > 0


async def test_without_websocket_the_driver_polls(ap: SimAccessPoint) -> None:
    async with OeplAccessPoint(
        "ap1", ap.url, ack_timeout_s=2.0, websocket=False, poll_s=0.05
    ) as esl:
        result = await esl.push_content(MAC[5], BREAD)
    assert result.acked
    assert "ws" not in ap.requests
    assert ap.requests["get_db"] > 2


async def test_json_template_is_drawn_by_the_ap(ap: SimAccessPoint) -> None:
    async with OeplAccessPoint("ap1", ap.url, ack_timeout_s=2.0, content_format="json") as esl:
        result = await esl.push_content(MAC[2], MILK)
    assert result.acked
    assert ap.requests["jsonupload"] == 1
    tag = ap.tag(MAC[2])
    assert tag.content_mode == 19
    assert tag.shown is not None
    counts = tag.shown.counts()
    assert counts["red"] > 0
    assert counts["black"] > 0


async def test_mode_and_message_are_rendered_and_the_message_goes_away(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    assert (await driver.push_content(MAC[0], MILK)).acked
    first_hash = ap.tag(MAC[0]).md5
    dimmed = await driver.set_mode(MAC[0], TagMode.DIMMED)
    assert dimmed.acked
    shown = ap.tag(MAC[0]).shown
    assert shown is not None
    assert "red" not in shown.counts()
    assert (await driver.set_mode(MAC[0], TagMode.NORMAL)).acked
    assert ap.tag(MAC[0]).md5 == first_hash
    message = await driver.show_message(MAC[0], "Fresh bread", 0.2)
    assert message.acked
    assert ap.tag(MAC[0]).md5 != first_hash
    await wait_until(lambda: ap.tag(MAC[0]).md5 == first_hash, what="content back")


async def test_set_mode_needs_content_except_blank(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    failed = await driver.set_mode(MAC[3], TagMode.DIMMED)
    assert failed.outcome is PushOutcome.FAILED
    assert "push content first" in failed.reason
    blank = await driver.set_mode(MAC[3], TagMode.BLANK)
    assert blank.acked
    shown = ap.tag(MAC[3]).shown
    assert shown is not None
    assert shown.counts() == {"white": 296 * 128}


async def test_tag_commands_run_at_the_next_check_in(
    driver: OeplAccessPoint, ap: SimAccessPoint
) -> None:
    await driver.tag_cmd(MAC[4][4:], "ledflash")  # a 6-byte MAC works as on the AP
    await wait_until(lambda: ap.tag(MAC[4]).commands_done == ["ledflash"], what="command ran")


async def test_get_db_paging_stops_at_the_aps_uint8_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    sim = SimAccessPoint(make_tags(300), checkin_s=60.0)
    async with sim, OeplAccessPoint("ap1", sim.url, websocket=False) as esl:
        snapshot = await esl.read()
    listed = [t.tag_id for t in snapshot.tags]
    assert len(listed) == len(set(listed))
    assert 256 <= len(listed) < 300
    assert listed == list(sim.tags)[: len(listed)]
    assert "uint8" in caplog.text


async def test_unreachable_ap_fails_connect_and_leaves_nothing_open(free_tcp_port: int) -> None:
    esl = OeplAccessPoint("ap1", f"http://127.0.0.1:{free_tcp_port}", http_timeout_s=1.0)
    with pytest.raises(DeviceConnectionError, match="get_db"):
        await esl.connect()
    with pytest.raises(DeviceConnectionError, match="not connected"):
        await esl.tag_cmd(MAC[0], "reboot")


async def test_the_polling_coordinator_reads_the_ap_and_sees_it_go_away(ap: SimAccessPoint) -> None:
    bus = Bus()
    statuses = bus.subscribe(TagStatus, maxsize=100)
    health = bus.subscribe(HealthChanged, maxsize=10)
    coordinator = PollingCoordinator(bus)
    async with OeplAccessPoint("ap1", ap.url, websocket=False, http_timeout_s=1.0) as esl:
        job = coordinator.add(esl, 1.0, lambda snapshot: snapshot.tags)
        assert await coordinator.poll_once(job)
        received = list(iter(statuses.get_nowait, None))
        assert all(isinstance(m, TagStatus) for m in received)
        assert sorted(m.tag_id for m in received if isinstance(m, TagStatus)) == MAC
        first = health.get_nowait()
        assert isinstance(first, HealthChanged)
        assert first.health.state is HealthState.ONLINE
        await ap.stop()
        assert not await coordinator.poll_once(job)
        assert "get_db" in job.tracker.health.reason
