import asyncio

import pytest

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError
from devices.health import HealthChanged, HealthState
from devices.modbus.link import TcpLink
from devices.profiles import get_profile
from devices.scale import CellCalibration, ModbusScale, ShelfWeights, shelf_weights

from .conftest import running


def expected_raw(sim, unit, server):
    """What the simulated device holds right now (its own API, noise-free scenario)."""
    return list(sim.readings(unit, server=server).weights_g)


async def test_tcp_reads_what_the_device_holds(sim, clock, tcp_scale):
    sim.put(1, 500.0, 0.3, server=0)
    clock.settle()
    reading = await tcp_scale.read()
    assert all(reading.stable)
    assert reading.raw_g == pytest.approx(expected_raw(sim, 1, 0), abs=0.01)
    assert reading.raw_g[1] > reading.raw_g[0] > 0  # 0.3 m of 1.2 m: mostly on cell 1


async def test_rtu_multicell_and_transmitter_share_one_line(sim, clock, rtu_scale, rtu_tx):
    sim.put(1, 240.0, 0.2, server=1)
    sim.put(2, 1234.5, 0.0, server=1)
    clock.settle()
    mc = await rtu_scale.read()
    tx = await rtu_tx.read()
    assert mc.raw_g == pytest.approx(expected_raw(sim, 1, 1), abs=0.01)
    # int32 in 0.1 g, low word first: resolution is 0.1 g
    assert tx.raw_g[0] == pytest.approx(expected_raw(sim, 2, 1)[0], abs=0.051)
    assert tx.raw_g[0] > 1200


async def test_stable_flag_follows_settling(sim, clock, tcp_scale):
    assert all((await tcp_scale.read()).stable)
    sim.put(1, 800.0, 0.6, server=0)
    clock.settle(0.05)
    assert not any((await tcp_scale.read()).stable[1:3])
    clock.settle()
    assert all((await tcp_scale.read()).stable)


async def test_tare_and_zero_on_device(sim, clock, tcp_scale, rtu_tx):
    sim.put(1, 700.0, 0.4, server=0)
    clock.settle()
    await tcp_scale.command("tare", [0, 1])
    reading = await tcp_scale.read()
    assert reading.raw_g[0] == pytest.approx(0.0, abs=0.05)
    assert reading.raw_g[1] == pytest.approx(0.0, abs=0.05)
    await rtu_tx.command("zero", [0])
    assert (await rtu_tx.read()).raw_g[0] == pytest.approx(0.0, abs=0.1)


async def test_zero_refused_is_reported(sim, clock, rtu_tx):
    sim.put(2, 15000.0, 0.0, server=1)  # far beyond the +-20 % zero range
    clock.settle()
    with pytest.raises(DeviceError, match="zero refused"):
        await rtu_tx.command("zero", [0])


async def test_two_point_calibration_round_trip(sim, clock, tcp_scale):
    """Cell 0 has +3 % gain error and a 20 g offset; calibration must remove both."""
    zero_raw = await tcp_scale.sample_cell(0)
    sim.put(1, 1000.0, 0.0, label="reference", server=0)  # right above cell 0
    clock.settle()
    span_raw = await tcp_scale.sample_cell(0)
    calibration = CellCalibration.from_two_points(zero_raw, span_raw, 1000.0)
    sim.take(1, "reference", server=0)
    sim.put(1, 437.0, 0.0, server=0)
    clock.settle()
    raw, _ = (await tcp_scale.read()).cell(0)
    truth = sim.true_loads(1, server=0)[0]
    assert abs(raw - truth) > 10  # uncalibrated it is visibly wrong ...
    assert calibration.apply(raw) == pytest.approx(truth, abs=0.5)  # ... calibrated it is right


async def test_calibration_refuses_weight_on_wrong_cell():
    with pytest.raises(ValueError, match="is the weight on this cell"):
        CellCalibration.from_two_points(100.0, 101.0, 500.0)


@pytest.mark.parametrize("fault", ["silent", "corrupt_crc", "wrong_unit"])
async def test_faulty_unit_fails_cleanly_and_recovers(sim, rtu_scale, rtu_tx, fault):
    sim.set_fault(1, fault, server=1)
    with pytest.raises(DeviceTimeoutError):
        await rtu_scale.read()
    assert (await rtu_tx.read()).device_id == "tx-rtu"  # the line is still usable
    sim.set_fault(1, "none", server=1)
    await rtu_scale.read()


async def test_late_reply_is_never_taken_for_another_units(sim, clock, rtu_scale, rtu_tx):
    sim.put(1, 300.0, 0.4, server=1)
    sim.put(2, 2000.0, 0.0, server=1)
    clock.settle()
    sim.set_fault(1, "late", delay_s=0.3, server=1)
    with pytest.raises(DeviceTimeoutError):
        await rtu_scale.read()
    truth = expected_raw(sim, 2, 1)[0]
    for _ in range(5):
        try:
            reading = await rtu_tx.read()
        except DeviceTimeoutError:
            continue  # the late frame may collide with this request: a lost poll, not bad data
        assert reading.raw_g[0] == pytest.approx(truth, abs=0.2)


async def test_tcp_wrong_mbap_fault_is_an_error(sim, tcp_scale):
    sim.set_fault(1, "corrupt_crc", server=0)
    with pytest.raises(DeviceError):
        await tcp_scale.read()
    sim.set_fault(1, "none", server=0)
    tcp_scale.link._next_connect_s = 0  # skip the reconnect backoff for the test
    await tcp_scale.read()


async def test_connection_refused_backs_off(free_tcp_port):
    link = TcpLink("gone", "127.0.0.1", free_tcp_port, timeout_s=0.2)
    scale = ModbusScale("gone", link, 1, get_profile("mc10"), [0])
    with pytest.raises(DeviceConnectionError, match="cannot open link"):
        await scale.read()
    with pytest.raises(DeviceConnectionError, match="next reconnect in"):
        await scale.read()  # no new attempt before the backoff delay
    await link.close()


async def test_dead_unit_does_not_stall_its_bus(sim, rtu_scale, rtu_tx):
    """With unit 2 silent, unit 1 on the same line keeps polling; unit 2 is retried on backoff."""
    sim.set_fault(2, "silent", server=1)
    bus = Bus()
    readings = bus.subscribe(maxsize=10_000)
    coordinator = PollingCoordinator(bus, offline_backoff_cap_s=1.0)
    live = coordinator.add(rtu_scale, 10.0, lambda r: [shelf_weights(r, "B1", [0, 1], {})])
    dead = coordinator.add(rtu_tx, 10.0, lambda r: [shelf_weights(r, "C1", [0], {})])
    async with running(coordinator):
        offline = None
        async with asyncio.timeout(10):
            while offline is None or live.stats.polls < 40:
                message = await readings.get()
                if (
                    isinstance(message, HealthChanged)
                    and message.health.state is HealthState.OFFLINE
                ):
                    offline = message.health
                if isinstance(message, ShelfWeights) and message.shelf_id == "C1":
                    assert offline is None, "no readings from a unit after it went offline"
    assert offline.device_id == "tx-rtu"
    assert live.tracker.health.state is HealthState.ONLINE
    assert live.stats.failures == 0
    # 40 polls of the live unit = 4 s at 10 Hz; without backoff the dead one would have had ~40
    assert dead.stats.polls < 20


async def test_zero_refused_by_mc10_is_caught_by_read_back(sim, clock, tcp_scale):
    """The mc10 acknowledges a zero it refuses (no status bit): the read-back catches it."""
    sim.put(1, 15000.0, 0.0, server=0)
    clock.settle()
    with pytest.raises(DeviceError, match=r"zero refused.*cell 0"):
        await tcp_scale.command("zero", [0])


async def test_dumped_fixture_is_identified_and_read_back(sim, clock, tcp_scale, tmp_path):
    from devices.fixture import make_fixture
    from devices.modbus.scan import identify
    from devices.profiles import builtin_profiles
    from sim_devices.scenario import parse_scenario
    from sim_devices.simulator import ShelfSimulator

    sim.put(1, 321.0, 0.5, server=0)
    clock.settle()
    truth = (await tcp_scale.read()).raw_g
    fixture = make_fixture(get_profile("mc10"), 1, await tcp_scale.dump_registers())
    assert fixture["tables"]["input"]["30"] == 0x0A10  # identify register, from the register map
    assert fixture["tables"]["holding"]["200"] == 0  # serial number redacted
    path = tmp_path / "fx.json"
    path.write_text(__import__("json").dumps(fixture))
    scenario = {
        "servers": [{"kind": "tcp", "port": 0, "units": [{"unit_id": 1, "fixture": str(path)}]}]
    }
    async with ShelfSimulator(parse_scenario(scenario)) as replay:
        link = TcpLink("replay", "127.0.0.1", replay.tcp_port(0), timeout_s=0.5)
        try:
            hit = await identify(link, 1, builtin_profiles().values())
            assert hit is not None
            assert hit.profiles == ("mc10",)
            replayed = ModbusScale("replay", link, 1, get_profile("mc10"), [0, 1, 2, 3])
            assert (await replayed.read()).raw_g == truth
        finally:
            await link.close()
