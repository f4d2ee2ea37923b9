"""The simulated OpenEPaperLink AP against independent clients: curl and plain aiohttp.

Field names and answers below are copied from the AP firmware (web.cpp,
tag_db.cpp ``fillNode``), so a simulator that drifts from the AP fails here
even if the driver drifted the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from PIL import Image

from sim_devices.esl.ap import SimAccessPoint, make_tags

from .esltools import wait_until

FILL_NODE_KEYS = [
    "mac",
    "hash",
    "lastseen",
    "nextupdate",
    "nextcheckin",
    "pending",
    "alias",
    "contentMode",
    "LQI",
    "RSSI",
    "temperature",
    "batteryMv",
    "hwType",
    "wakeupReason",
    "capabilities",
    "modecfgjson",
    "isexternal",
    "apip",
    "rotate",
    "lut",
    "invert",
    "updatecount",
    "updatelast",
    "ch",
    "ver",
]
MAC = "0000021EDE000000"  # hwType 0x01: 296 x 128, white/black/red

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is the peer")


def jpeg(size: tuple[int, int] = (296, 128), fmt: str = "JPEG") -> bytes:
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste((0, 0, 0), (10, 10, 150, 60))
    image.paste((255, 0, 0), (10, 80, 286, 118))
    out = io.BytesIO()
    image.save(out, fmt, quality=95, subsampling=0)
    return out.getvalue()


@pytest.fixture
async def ap() -> AsyncIterator[SimAccessPoint]:
    async with SimAccessPoint(make_tags(3), checkin_s=0.1) as sim:
        yield sim


async def record(session: aiohttp.ClientSession, ap: SimAccessPoint, mac: str) -> dict[str, object]:
    async with session.get(f"{ap.url}/get_db", params={"mac": mac}) as response:
        doc = json.loads(await response.text())
    tags = doc["tags"]
    assert isinstance(tags, list)
    assert len(tags) == 1
    found: dict[str, object] = tags[0]
    return found


async def curl(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    body, _, code = out.decode().rpartition("\n")
    return int(code), body


@needs_curl
async def test_curl_upload_like_the_aps_demo_form(ap: SimAccessPoint, tmp_path: Path) -> None:
    image = tmp_path / "image.jpg"
    image.write_bytes(jpeg())
    code, body = await curl(
        "-F", f"mac={MAC}", "-F", "dither=0", "-F", f"file=@{image}", f"{ap.url}/imgupload"
    )
    assert (code, body) == (200, "Ok, saved")
    async with aiohttp.ClientSession() as session:
        await wait_until(lambda: ap.tag(MAC).xfers == 1, what="fetched at a check-in")
        rec = await record(session, ap, MAC)
    assert list(rec) == FILL_NODE_KEYS
    assert rec["pending"] == 0
    assert rec["updatecount"] == 1
    assert rec["contentMode"] == 24
    shown = ap.tag(MAC).shown
    assert shown is not None
    assert shown.region_counts((10, 10, 150, 60)) == {"black": 140 * 50}
    assert shown.region_counts((10, 80, 286, 118)) == {"red": 276 * 38}
    md5 = hashlib.md5(shown.buffer).digest()
    assert rec["hash"] == md5[:8].hex() + "0" * 16  # dataVer: 8 bytes of MD5, then zeros


@needs_curl
async def test_curl_file_before_mac_and_unknown_mac(ap: SimAccessPoint, tmp_path: Path) -> None:
    image = tmp_path / "image.jpg"
    image.write_bytes(jpeg())
    code, body = await curl("-F", f"file=@{image}", "-F", f"mac={MAC}", f"{ap.url}/imgupload")
    assert (code, body) == (400, "parameters incomplete")
    code, body = await curl(
        "-F", "mac=0000021EDEFFFFFF", "-F", f"file=@{image}", f"{ap.url}/imgupload"
    )
    assert (code, body) == (400, "mac not found")
    code, body = await curl("-d", "mac=0000021EDEFFFFFF", "-d", "cmd=reboot", f"{ap.url}/tag_cmd")
    assert (code, body) == (400, "Error: mac not found")
    code, body = await curl("-d", f"mac={MAC}", f"{ap.url}/tag_cmd")
    assert (code, body) == (500, "param error")
    code, body = await curl("-d", f"mac={MAC}", f"{ap.url}/jsonupload")
    assert (code, body) == (400, "Missing parameters")
    code, body = await curl(f"{ap.url}/get_db?mac=XYZ")
    assert json.loads(body) == {"error": "malformatted parameter"}


async def test_pending_rises_after_the_answer_and_drops_at_the_check_in(
    ap: SimAccessPoint,
) -> None:
    ap.set_fault(MAC, "out_of_range")  # hold the tag back to see the queued state
    async with aiohttp.ClientSession() as session:
        form = aiohttp.FormData()
        form.add_field("mac", MAC)
        form.add_field("file", jpeg(), filename="image.jpg", content_type="image/jpeg")
        async with session.post(f"{ap.url}/imgupload", data=form) as response:
            assert response.status == 200
        await wait_until(lambda: ap.tag(MAC).pending == 1, what="queued")
        queued = await record(session, ap, MAC)
        assert queued["pending"] == 1
        assert queued["hash"] == "0" * 32  # unchanged until the tag fetches it
        ap.set_fault(MAC, "none")
        await wait_until(lambda: ap.tag(MAC).pending == 0, what="fetched")
        done = await record(session, ap, MAC)
        assert done["updatecount"] == 1
        assert done["hash"] != "0" * 32


async def test_identical_image_is_not_queued_and_other_formats_are_refused(
    ap: SimAccessPoint,
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{ap.url}/ws") as ws:

        async def upload(data: bytes) -> None:
            form = aiohttp.FormData()
            form.add_field("mac", MAC)
            form.add_field("file", data, filename="image.jpg", content_type="image/jpeg")
            async with session.post(f"{ap.url}/imgupload", data=form) as response:
                assert response.status == 200

        async def next_message(key: str) -> dict[str, object]:
            async with asyncio.timeout(5):
                while True:
                    message = json.loads(await ws.receive_str())
                    if key in message:
                        found: dict[str, object] = message
                        return found

        await upload(jpeg())
        await wait_until(lambda: ap.tag(MAC).xfers == 1, what="first image shown")
        await upload(jpeg())
        log = await next_message("logMsg")
        while "same as current image" not in str(log["logMsg"]):
            log = await next_message("logMsg")
        assert ap.tag(MAC).pending == 0
        await upload(jpeg(fmt="PNG"))
        error = await next_message("errMsg")
        assert "invalid jpg" in str(error["errMsg"])
        await upload(jpeg(size=(200, 100)))
        error = await next_message("errMsg")
        assert "does not fit" in str(error["errMsg"])
        assert ap.tag(MAC).pending == 0


async def test_websocket_streams_tag_records_on_check_in(ap: SimAccessPoint) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{ap.url}/ws") as ws:
        macs: set[str] = set()
        async with asyncio.timeout(5):
            while len(macs) < 3:
                message = json.loads(await ws.receive_str())
                for tag in message.get("tags", []):
                    assert list(tag) == FILL_NODE_KEYS
                    macs.add(tag["mac"])
        assert macs == set(ap.tags)


async def test_get_db_pages_by_size_with_continu() -> None:
    big = SimAccessPoint(make_tags(40), checkin_s=60.0)
    async with big, aiohttp.ClientSession() as session:
        seen: list[str] = []
        pos = 0
        while True:
            params = {"pos": str(pos)} if pos else {}
            async with session.get(f"{big.url}/get_db", params=params) as response:
                doc = json.loads(await response.text())
            if "continu" in doc:  # measureJson: the tag that went over 5000 is included
                assert len(json.dumps(doc["tags"][:-1], separators=(",", ":"))) <= 5000
                assert len(json.dumps(doc, separators=(",", ":"))) > 5000
            seen += [t["mac"] for t in doc["tags"]]
            if "continu" not in doc:
                break
            assert doc["continu"] > pos
            pos = doc["continu"]
    assert seen == list(big.tags)


async def test_json_template_and_refresh_redraw(ap: SimAccessPoint) -> None:
    template = [
        {"box": [0, 0, 296, 40, "red"]},
        {"text": [10, 50, "1.99", "Signika-SB.ttf", 1, 0, 40]},
    ]
    async with aiohttp.ClientSession() as session:
        data = {"mac": MAC, "json": json.dumps(template)}
        async with session.post(f"{ap.url}/jsonupload", data=data) as response:
            assert (response.status, await response.text()) == (200, "Ok, saved")
        await wait_until(lambda: ap.tag(MAC).xfers == 1, what="template shown")
        shown = ap.tag(MAC).shown
        assert shown is not None
        assert shown.region_counts((0, 0, 296, 40)) == {"red": 296 * 40}
        assert shown.region_counts((0, 45, 296, 128)).get("black", 0) > 0
        async with session.post(f"{ap.url}/tag_cmd", data={"mac": MAC, "cmd": "refresh"}) as r:
            assert (r.status, await r.text()) == (200, "Ok, done")
        await wait_until(lambda: ap.tag(MAC).xfers == 2, what="redrawn and sent again")
    assert np.array_equal(ap.tag(MAC).shown.indices, shown.indices)  # type: ignore[union-attr]
