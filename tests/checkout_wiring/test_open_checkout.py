"""The checkout as ``walkout run`` builds it from store.yaml: weights in, a receipt out."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devices.bus import Bus
from devices.gate.machine import Admitted, Entered, Exited
from vision_core.ledger.events import ReceiptSettled
from walkout.checkout_wiring import open_checkout, shelf_change_service
from walkout.config import ConfigError, parse_config

from .scene import at_shelf, weights

PLANOGRAM = """\
shelves:
  A1:
    length_m: 1.0
    facings:
      - {sku: can-330, unit_weight_g: 330, tolerance_g: 5, span_m: [0.0, 0.5], price: "1.29"}
      - {sku: jar-700, unit_weight_g: 700, tolerance_g: 8, span_m: [0.5, 1.0], price: "3.10"}
"""


def store(tmp_path: Path, *, location: bool = True) -> dict[str, Any]:
    (tmp_path / "planogram.yaml").write_text(PLANOGRAM)
    shelf: dict[str, Any] = {"id": "A1", "unit": "sc-1", "cells": [0, 1], "length_m": 1.0}
    if location:
        # Front edge from (2, 0) along +y: position p on the shelf is at (2, p).
        shelf["location"] = {"x_m": 2.0, "y_m": 0.0, "heading_deg": 90}
    return {
        "store": {"id": "wired"},
        "modbus": {
            "buses": [{"id": "b", "type": "tcp", "host": "127.0.0.1", "port": 1502}],
            "units": [{"id": "sc-1", "bus": "b", "unit_id": 1, "profile": "mc10"}],
        },
        "shelves": [shelf],
        "checkout": {"planogram": "planogram.yaml", "ledger": "ledger.db", "wait_s": 2},
    }


async def test_a_take_by_the_only_shopper_settles_as_a_receipt_after_exit(tmp_path: Path) -> None:
    config = parse_config(store(tmp_path), "test", tmp_path)
    bus = Bus()
    receipts = bus.subscribe(ReceiptSettled, name="receipts")
    async with open_checkout(config, bus) as checkout:
        assert checkout is not None
        shelves = shelf_change_service(config, bus)
        tasks = [asyncio.create_task(checkout.service.run()), asyncio.create_task(shelves.run())]
        try:
            async with asyncio.timeout(10):
                await checkout.service.ready.wait()
                await shelves.ready.wait()
            gate = {"source": "entry", "credential": "QR-…", "group_size": 1}
            await bus.publish(Admitted(t_mono=1.0, session_id="s1", latency_s=0.1, **gate))
            await bus.publish(Entered(t_mono=1.5, session_id="s1", person=1, **gate))
            for i in range(4):  # settled shelf: 1000 g on each cell
                await bus.publish(weights(2.0 + 0.1 * i, (1000.0, 1000.0)))
            for i in range(3):
                await bus.publish(at_shelf(2.5 + 0.2 * i, 0.25))
            await bus.publish(weights(3.0, (900.0, 950.0), stable=False))
            # One can (330 g) left from the quarter point: cell 0 lost 3/4 of it.
            for i in range(4):
                await bus.publish(weights(3.5 + 0.1 * i, (1000.0 - 247.5, 1000.0 - 82.5)))
            # The exit follows at once: the take is still crossing the shelf service
            # and the bus, and the receipt must wait for it (settle_after_s).
            await bus.publish(Exited(source="exit", t_mono=4.0, session_id="s1"))
            async with asyncio.timeout(15):
                receipt = await receipts.get()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert isinstance(receipt, ReceiptSettled)
        assert [(line.sku, line.qty) for line in receipt.lines] == [("can-330", 1)]
        assert receipt.total == Decimal("1.29")
        assert shelves.changes == 1
    receipts.close()
    assert (tmp_path / "ledger.db").exists()


def test_a_shelf_off_the_floor_plan_is_refused_with_its_key(tmp_path: Path) -> None:
    config = parse_config(store(tmp_path, location=False), "test", tmp_path)

    async def open_it() -> None:
        async with open_checkout(config, Bus()):
            pass

    with pytest.raises(ConfigError, match=r"shelves\[0\] \(id=A1\)\.location"):
        asyncio.run(open_it())


@pytest.mark.parametrize("split_lifts", [True, False])
def test_split_lifts_is_set_per_shelf_in_store_yaml(tmp_path: Path, split_lifts: bool) -> None:
    data = store(tmp_path)
    data["shelves"][0]["split_lifts"] = split_lifts
    config = parse_config(data, "test", tmp_path)
    service = shelf_change_service(config, Bus())
    # two lifts 1 s apart while the board still moves: two takes when splitting, one if not
    samples = [weights(t, (1000.0, 1000.0)) for t in (0.0, 0.1, 0.2)]
    samples += [weights(0.3 + k / 10, (835.0, 835.0), stable=False) for k in range(10)]
    samples += [weights(1.3 + k / 10, (660.0, 660.0), stable=False) for k in range(10)]
    samples += [weights(2.3 + k / 10, (660.0, 660.0)) for k in range(3)]
    found = [c for s in samples for c in service.detectors["A1"].feed(s)]
    assert [round(c.delta_g) for c in found] == ([-330, -350] if split_lifts else [-680])
    assert all(c.one_lift == split_lifts for c in found)


def test_split_lifts_must_be_a_boolean(tmp_path: Path) -> None:
    data = store(tmp_path)
    data["shelves"][0]["split_lifts"] = "sometimes"
    with pytest.raises(ConfigError, match=r"split_lifts"):
        parse_config(data, "test", tmp_path)


def test_the_hand_width_and_its_learning_are_set_in_store_yaml(tmp_path: Path) -> None:
    data = store(tmp_path)
    data["checkout"] |= {"hand_sigma_m": 0.08, "learn_hand_sigma": False}
    config = parse_config(data, "test", tmp_path)

    async def open_it() -> tuple[float, bool]:
        async with open_checkout(config, Bus()) as wiring:
            assert wiring is not None
            return wiring.engine.hand_sigma_m, wiring.engine.settings.learn_hand_sigma

    assert asyncio.run(open_it()) == (0.08, False)


@pytest.mark.parametrize("value", [0, -0.1, 2.0])
def test_a_hand_width_out_of_range_is_refused_by_name(tmp_path: Path, value: float) -> None:
    data = store(tmp_path)
    data["checkout"]["hand_sigma_m"] = value
    with pytest.raises(ConfigError, match=r"checkout\.hand_sigma_m"):
        parse_config(data, "test", tmp_path)
