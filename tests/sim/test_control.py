"""JSON-lines control server and client, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sim_devices import RtuServerSpec, Scenario, ShelfSimulator, TcpServerSpec, UnitSpec
from sim_devices.control import ControlClient, ControlError, ControlServer


@pytest.fixture
async def control() -> AsyncIterator[tuple[ShelfSimulator, ControlClient, list[str]]]:
    scenario = Scenario(
        servers=(
            TcpServerSpec(units=(UnitSpec(unit_id=1, cells=4, length_m=1.2, sigma_g=0.0),)),
            RtuServerSpec(units=(UnitSpec(unit_id=3, model="tx1"),)),
        )
    )
    quits: list[str] = []
    async with ShelfSimulator(scenario) as sim:
        server = ControlServer(sim, on_quit=lambda: quits.append("quit"))
        await server.start()
        try:
            async with ControlClient(server.port) as client:
                yield sim, client, quits
        finally:
            await server.stop()


async def test_put_take_round_trip(
    control: tuple[ShelfSimulator, ControlClient, list[str]],
) -> None:
    sim, client, _ = control
    item = await client.put(1, 350.0, 0.2, label="cola")
    assert sim.true_loads(1) == pytest.approx([175.0, 175.0, 0.0, 0.0])
    taken = await client.take(1, label="cola")
    assert taken == {"item": item, "weight_g": 350.0, "position_m": 0.2, "label": "cola"}
    await client.put(1, 100.0, 1.2)
    await client.take(1, weight_g=100.0, position_m=1.2)
    await client.take_g(3, 50.0, server=1)
    assert sim.true_loads(3, server=1) == pytest.approx([-50.0])
    with pytest.raises(ControlError, match="no item"):
        await client.take(1, item=item)


async def test_fault_state_stats(control: tuple[ShelfSimulator, ControlClient, list[str]]) -> None:
    sim, client, _ = control
    assert await client.fault(3, "late", delay_s=0.5, server=1) == {"mode": "late", "delay_s": 0.5}
    assert sim.fault(3, server=1).mode == "late"
    servers = await client.state()
    assert [s["kind"] for s in servers] == ["tcp", "rtu"]
    assert servers[0]["port"] == sim.tcp_port(0)
    assert servers[1]["path"] == sim.rtu_path(1)
    unit = servers[1]["units"][0]
    assert unit["fault"] == {"mode": "late", "delay_s": 0.5}
    assert unit["model"] == "tx1"
    assert set(unit) >= {"items", "true_loads_g", "weights_g", "stable", "overload"}
    only = await client.state(1, server=0)
    assert len(only) == 1
    assert [u["unit"] for u in only[0]["units"]] == [1]
    stats = await client.stats()
    assert stats[1]["kind"] == "rtu"
    assert "crc_errors" in stats[1]
    with pytest.raises(ControlError, match="unknown fault mode"):
        await client.fault(1, "exploding")


async def test_errors_keep_the_connection(
    control: tuple[ShelfSimulator, ControlClient, list[str]],
) -> None:
    _, client, quits = control
    bad_json = await client.raw(b"{not json\n")
    assert bad_json["ok"] is False
    assert "bad JSON" in bad_json["error"]
    assert (await client.raw({"cmd": "dance"}))["error"].startswith("unknown command")
    assert "missing field 'unit'" in (await client.raw({"cmd": "put", "weight_g": 1}))["error"]
    assert "wrong type" in (await client.raw({"cmd": "put", "unit": "1", "weight_g": 1}))["error"]
    assert "no unit 7" in (await client.raw({"cmd": "put", "unit": 7, "weight_g": 1}))["error"]
    assert "no server 5" in (await client.raw({"cmd": "state", "server": 5}))["error"]
    assert (await client.raw([1, 2]))["ok"] is False  # type: ignore[arg-type]
    await client.quit()
    assert quits == ["quit"]
