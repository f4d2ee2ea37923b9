"""Several gates on one RS-485 line: one libosdp control panel, one PD per gate."""

from __future__ import annotations

import pytest

from devices.bus import Bus
from devices.gate.io import CredentialPresented, GateLinkChanged
from devices.gate.osdp import OsdpGate
from devices.gate.osdp_config import OsdpLineSettings
from devices.gate.osdp_line import OsdpLine, OsdpPdSpec

from .osdptools import KEY, OTHER_KEY, gate_settings, next_of, pd_spec


@pytest.fixture
async def two_gates(make_sim, bus: Bus, events):
    sim = make_sim(pd_spec(address=1, scbk=KEY), pd_spec(address=2, scbk=OTHER_KEY))
    entry_settings = gate_settings(address=1, scbk=KEY.hex())
    exit_settings = gate_settings(address=2, scbk=OTHER_KEY.hex())
    line = OsdpLine(
        OsdpLineSettings(port=sim.path),
        [
            OsdpPdSpec(1, entry_settings.scbk, "entry"),
            OsdpPdSpec(2, exit_settings.scbk, "exit"),
        ],
    )
    entry = OsdpGate("entry", entry_settings, line=line, bus=bus)
    exit_ = OsdpGate("exit", exit_settings, line=line, bus=bus)
    try:
        await entry.connect()
        await exit_.connect()
        yield sim, line, entry, exit_
    finally:
        await entry.close()
        await exit_.close()
        await line.close()


async def test_each_gate_talks_to_its_own_pd(two_gates, events):
    sim, _, entry, exit_ = two_gates
    assert (entry.online, exit_.online) == (True, True)
    assert (sim.state(1)["secure"], sim.state(2)["secure"]) == (True, True)
    await entry.lock()
    await exit_.hold_open()
    assert sim.state(1)["relay"]["passage"] == "locked"
    assert sim.state(2)["relay"]["passage"] == "open"
    sim.card("123456C0", 26, address=2)
    cred = await next_of(events, CredentialPresented)
    assert (cred.source, cred.credential) == ("exit", "048D15B")


async def test_closing_one_gate_keeps_the_other(two_gates, events):
    sim, line, entry, exit_ = two_gates
    await entry.lock()
    await exit_.lock()
    await exit_.close()
    assert sim.state(2)["relay"]["passage"] == "open"  # released on close
    assert line.is_open
    sim.card("00000040", 26, address=1)
    cred = await next_of(events, CredentialPresented)
    assert (cred.source, cred.credential) == ("entry", "0000001")
    await entry.pulse_open(200)
    assert sim.state(1)["relay"]["passage"] == "open"
    await entry.close()
    assert not line.is_open


async def test_one_silent_pd_does_not_take_down_the_other(two_gates, events):
    sim, _, _, exit_ = two_gates
    sim.set_fault("silent", address=1)
    down = await next_of(events, GateLinkChanged, timeout_s=3.0)
    while down.online:  # the initial link-up messages of both gates come first
        down = await next_of(events, GateLinkChanged, timeout_s=3.0)
    assert (down.source, down.online) == ("entry", False)
    assert exit_.online
    await exit_.pulse_open(300)
    assert sim.state(2)["relay"]["passage"] == "open"


def test_line_refuses_duplicate_addresses(tmp_path):
    spec = OsdpPdSpec(1, gate_settings().scbk)
    with pytest.raises(ValueError, match=r"address\(es\) \[1\] listed twice"):
        OsdpLine(OsdpLineSettings(port=str(tmp_path / "tty")), [spec, spec])
