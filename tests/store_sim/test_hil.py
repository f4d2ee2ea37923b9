import asyncio
import math
from typing import Any

import pytest

from sim_devices import ShelfSimulator, UnitSpec
from sim_devices.clock import ManualClock
from sim_devices.control import ControlClient, ControlServer
from sim_devices.store_sim import parse_store_scenario, simulate
from sim_devices.store_sim.hil import PATIENCE_S, HilAction, drive, hil_actions, shelf_sim_scenario


def test_shelf_sim_scenario_carries_the_stock(small: dict[str, Any]) -> None:
    store = parse_store_scenario(small)
    scenario, addresses = shelf_sim_scenario(store)
    units = scenario.servers[0].units
    assert [addresses[s.shelf_id].unit for s in store.floor.shelves] == [1, 2, 3]
    first = units[0]
    assert isinstance(first, UnitSpec)
    # shelf A: 30 cola at 355 g and 30 water at 520 g
    assert math.fsum(i.weight_g for i in first.items) == pytest.approx(30 * 355 + 30 * 520)


def test_actions_are_time_ordered_and_cover_every_event(small: dict[str, Any]) -> None:
    run = simulate(parse_store_scenario(small))
    _, addresses = shelf_sim_scenario(run.scenario)
    actions = hil_actions(run.truth, run.records, addresses)
    assert [a.t for a in actions] == sorted(a.t for a in actions)
    shelf_actions = [a for a in actions if a.target == "shelves"]
    assert len(shelf_actions) == len(run.truth.events)
    cards = [a for a in actions if a.target == "reader"]
    assert len(cards) == len(run.truth.sessions)
    assert cards[0].request == {"cmd": "card", "hex": "00000001", "bits": 32}
    walks = [a for a in actions if a.target in ("entry", "exit")]
    assert len(walks) == 2 * len(run.truth.shoppers)


async def test_drive_moves_the_grams_on_the_shelf_simulator(small: dict[str, Any]) -> None:
    small["duration_s"] = 120
    run = simulate(parse_store_scenario(small))
    scenario, addresses = shelf_sim_scenario(run.scenario)
    actions = [a for a in hil_actions(run.truth, run.records, addresses) if a.target == "shelves"]
    assert actions
    clock = ManualClock(0.0)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    async with ShelfSimulator(scenario) as sim:
        before = {a.unit: math.fsum(sim.true_loads(a.unit)) for a in addresses.values()}
        server = ControlServer(sim)
        await server.start()
        try:
            async with ControlClient(server.port) as client:
                sent = await drive(actions, {"shelves": client}, clock=clock, sleep=sleep)
        finally:
            await server.stop()
        assert sent == len(actions)
        for shelf_id, address in addresses.items():
            moved = math.fsum(
                e.weight_g if e.kind == "put" else -e.weight_g
                for e in run.truth.events
                if e.shelf_id == shelf_id
            )
            after = math.fsum(sim.true_loads(address.unit))
            assert after - before[address.unit] == pytest.approx(moved, abs=1e-6)


class SlowDoor:
    """An entry that unlocks at ``opens_at`` on ``clock`` (the credential check is slow)."""

    def __init__(self, clock: ManualClock, opens_at: float) -> None:
        self.clock, self.opens_at = clock, opens_at
        self.passed: list[float] = []
        self.pushed = 0

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        locked = self.clock() < self.opens_at
        if cmd == "state":
            return {"state": {"doors": [{"name": "entry", "locked": locked}]}}
        assert cmd == "walk_through"
        assert fields == {"door": "entry"}
        if locked:
            self.pushed += 1
            return {"passed": False, "forced": True}
        self.passed.append(self.clock())
        return {"passed": True, "forced": False}


def manual_time() -> tuple[ManualClock, Any]:
    clock = ManualClock(0.0)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    return clock, sleep


async def test_a_shopper_at_a_door_still_locked_waits_for_it_to_open() -> None:
    # Two people of a group walk up 0.8 s and 2.3 s in; the door opens at 1.0 s. The
    # first waits at the door and passes once it is open; the second finds it open.
    # (The manual clock moves with every sleeper, so only the order of things holds.)
    clock, sleep = manual_time()
    door = SlowDoor(clock, opens_at=1.0)
    walks = [HilAction(t, "entry", {"cmd": "walk_through", "door": "entry"}) for t in (0.8, 2.3)]
    assert await drive(walks, {"entry": door}, clock=clock, sleep=sleep) == 2
    assert door.pushed == 1
    assert len(door.passed) == 2
    assert min(door.passed) >= 1.0
    assert max(door.passed) < 0.8 + PATIENCE_S


async def test_a_door_that_never_opens_is_given_up_on() -> None:
    clock, sleep = manual_time()
    door = SlowDoor(clock, opens_at=math.inf)
    walks = [HilAction(0.5, "entry", {"cmd": "walk_through", "door": "entry"})]
    assert await drive(walks, {"entry": door}, clock=clock, sleep=sleep) == 1
    assert door.passed == []
    assert clock() >= 0.5 + PATIENCE_S
