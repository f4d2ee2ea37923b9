"""OsdpGate against libosdp PDs simulated on a pty, secure channel on."""

from __future__ import annotations

import logging

import pytest

from devices.bus import Message
from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.gate.io import (
    CredentialKind,
    CredentialPresented,
    GateLinkChanged,
    LockState,
    PassageSensed,
    TamperChanged,
)
from devices.gate.osdp import OsdpGate
from devices.health import HealthChanged, HealthState

from .osdptools import ADDRESS, KEY, OTHER_KEY, next_of, pd_spec, until

# osdp_OUT control codes as the OSDP spec numbers them
PERMANENT_OFF, PERMANENT_ON, TEMPORARY_ON, TEMPORARY_OFF = 1, 2, 5, 6


def relay(sim):
    return sim.state()["relay"]


def last_output_command(sim):
    commands = [c for c in sim.state()["relay_changes"] if c["why"].startswith("command")]
    return commands[-1] if commands else None


# --- link ---------------------------------------------------------------------------------


async def test_comes_online_with_secure_channel(sim, events, gate):
    link = await next_of(events, GateLinkChanged)
    assert link.online is True
    assert link.source == "exit-1"
    health = await next_of(events, HealthChanged)
    assert health.health.state is HealthState.ONLINE
    assert gate.online
    assert sim.state()["secure"] is True
    caps = gate.capabilities
    assert caps is not None
    assert (caps.outputs, caps.inputs, caps.leds, caps.audible) == (2, 2, 1, True)
    assert caps.serial_number == 1000 + ADDRESS  # the simulator's PDID


async def test_wrong_key_is_refused_with_a_clear_error(make_sim, make_gate, caplog):
    sim = make_sim(pd_spec(scbk=OTHER_KEY))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeviceAuthError, match=r"refused by PD at address 3: wrong SCBK"):
        await make_gate(sim)
    assert sim.state()["secure"] is False
    assert sim.state()["commands"] == 0
    for secret in (KEY.hex(), OTHER_KEY.hex(), KEY.hex().upper()):
        assert secret not in caplog.text


async def test_pd_in_install_mode_is_refused(make_sim, make_gate):
    sim = make_sim(pd_spec(scbk=None, secure=False))
    with pytest.raises(DeviceAuthError, match="wrong SCBK"):
        await make_gate(sim)


async def test_absent_pd_times_out(make_sim, make_gate):
    sim = make_sim(pd_spec(address=9))
    with pytest.raises(DeviceTimeoutError, match="no answer from PD at address 3"):
        await make_gate(sim, connect_timeout_s=1.0)


async def test_relay_output_the_pd_lacks_is_refused(sim, make_gate):
    with pytest.raises(DeviceProtocolError, match="relay_output 5 does not exist"):
        await make_gate(sim, relay_output=5)


async def test_a_failed_connect_leaves_the_port_free(make_sim, make_gate):
    sim = make_sim(pd_spec(scbk=OTHER_KEY))
    first = await make_gate(sim, connect=False)
    with pytest.raises(DeviceAuthError):
        await first.connect()
    assert not first.line.is_open
    # the port is free again (exclusive open): a second driver can open it
    second = await make_gate(sim, connect=False)
    with pytest.raises(DeviceAuthError):
        await second.connect()


async def test_silent_pd_goes_offline_then_recovers(sim, events, gate):
    await next_of(events, GateLinkChanged)
    await gate.lock()
    sim.set_fault("silent")
    down = await next_of(events, GateLinkChanged, timeout_s=3.0)
    assert down.online is False
    assert "no reply from PD at address 3" in down.reason
    assert gate.lock_state() is LockState.UNKNOWN
    with pytest.raises(DeviceConnectionError, match="hold_open"):
        await gate.hold_open()
    await gate.release()  # must not raise on a dead link; queued for the reconnect
    sim.set_fault("none")
    up = await next_of(events, GateLinkChanged, timeout_s=10.0)
    assert up.online is True
    await until(lambda: relay(sim)["passage"] == "open", what="pending release sent")
    assert last_output_command(sim)["why"] == f"command {PERMANENT_OFF}"
    assert gate.lock_state() is LockState.RELEASED


async def test_rekeyed_pd_is_retried_until_the_key_matches(sim, events, gate):
    await next_of(events, GateLinkChanged)
    sim.set_fault("wrong_key")
    down = await next_of(events, GateLinkChanged, timeout_s=5.0)
    assert down.online is False
    health = await next_of(events, HealthChanged)
    assert health.health.state is HealthState.OFFLINE
    sim.set_fault("none")
    up = await next_of(events, GateLinkChanged, timeout_s=10.0)
    assert up.online is True
    assert gate.stats["reconnects"] >= 1
    await gate.lock()
    assert relay(sim)["passage"] == "locked"


# --- events -------------------------------------------------------------------------------


async def test_card_read_becomes_a_credential(sim, events, gate):
    submitted = sim.card("123456C0", 26)
    cred = await next_of(events, CredentialPresented)
    assert cred.kind is CredentialKind.CARD
    assert cred.credential == "048D15B"  # 26 bits 0x123456C0 >> 6, by hand
    assert cred.bits == 26
    assert cred.source == "exit-1"
    assert cred.t_mono >= submitted
    sim.card("0123456789", 34, wiegand=True)
    cred = await next_of(events, CredentialPresented)
    assert (cred.credential, cred.bits) == ("0048D159E", 34)


async def test_keypad_pin_ends_with_hash_and_star_clears(sim, events, gate):
    sim.keypad("1234#")
    pin = await next_of(events, CredentialPresented)
    assert (pin.kind, pin.credential, pin.bits) == (CredentialKind.KEYPAD, "1234", None)
    sim.keypad("99*5")
    sim.keypad("67#")
    pin = await next_of(events, CredentialPresented)
    assert pin.credential == "567"


async def test_keypad_entry_times_out(make_sim, make_gate, events):
    sim = make_sim()
    gate = await make_gate(sim, keypad_timeout_s=0.3)
    sim.keypad("55")
    await until(lambda: gate._keypad.pending, what="digits received")
    await until(lambda: not gate._keypad.pending, what="entry discarded")
    sim.keypad("7#")
    pin = await next_of(events, CredentialPresented)
    assert pin.credential == "7"


async def test_one_passage_event_per_person(sim, events, gate):
    sim.walk_through(3, interval_s=0.3, dwell_s=0.1)
    passages = [await next_of(events, PassageSensed, timeout_s=3.0) for _ in range(3)]
    assert passages == sorted(passages, key=lambda p: p.t_mono)
    # Every input change has been delivered once the tamper report behind them arrives.
    await until(lambda: sim.state()["events_sent"] == 6, what="6 input reports sent")
    sim.tamper(True)
    seen = []
    while True:
        message = await next_of(events, Message, timeout_s=3.0)
        if isinstance(message, TamperChanged):
            break
        seen.append(message)
    assert not [m for m in seen if isinstance(m, PassageSensed)]
    assert gate.stats["passages"] == 3


async def test_other_inputs_do_not_count_as_passages(sim, events, gate):
    sim.set_input(1, True)
    sim.set_input(1, False)
    sim.tamper(True)
    await next_of(events, TamperChanged)
    assert gate.stats["passages"] == 0


async def test_tamper_on_and_off(sim, events, gate):
    sim.tamper(True)
    on = await next_of(events, TamperChanged)
    sim.tamper(False)
    off = await next_of(events, TamperChanged)
    assert (on.tampered, off.tampered) == (True, False)


# --- relay --------------------------------------------------------------------------------


async def test_pulse_open_reaches_the_pd_and_relocks_by_itself(sim, gate):
    await gate.pulse_open(500)
    assert gate.lock_state() is LockState.PULSED_OPEN
    state = sim.state()
    assert state["relay"]["passage"] == "open"
    # maglock: permanent ON (locked) first, then a temporary OFF for 5 x 100 ms
    assert state["relay_changes"][-1]["why"] == f"command {TEMPORARY_OFF}"
    assert (state["last_command"]["control_code"], state["last_command"]["timer_count"]) == (
        TEMPORARY_OFF,
        5,
    )
    assert state["relay"]["permanent_on"] is True
    await until(lambda: relay(sim)["passage"] == "locked", what="relocked by the PD timer")
    assert sim.state()["relay_changes"][-1]["why"] == "timer"
    await until(lambda: gate.lock_state() is LockState.LOCKED, what="driver relock")


async def test_pulse_on_a_strike_energises_the_relay(make_sim, make_gate):
    sim = make_sim(pd_spec(relay_energised="open"))
    gate = await make_gate(sim, relay_energised="open")
    await gate.lock()
    assert (relay(sim)["on"], relay(sim)["passage"]) == (False, "locked")
    await gate.pulse_open(300)
    last = sim.state()["last_command"]
    assert (last["control_code"], last["timer_count"]) == (TEMPORARY_ON, 3)
    assert (relay(sim)["on"], relay(sim)["passage"]) == (True, "open")
    await until(lambda: relay(sim)["passage"] == "locked", what="relocked")


async def test_hold_lock_release(sim, gate):
    await gate.hold_open()
    assert (relay(sim)["passage"], relay(sim)["timer_s"]) == ("open", None)
    assert gate.lock_state() is LockState.HELD_OPEN
    await gate.lock()
    assert (relay(sim)["passage"], relay(sim)["on"]) == ("locked", True)  # maglock powered
    assert gate.lock_state() is LockState.LOCKED
    await gate.release()
    assert (relay(sim)["passage"], relay(sim)["on"]) == ("open", False)
    assert gate.lock_state() is LockState.RELEASED


async def test_lock_aborts_a_running_pulse(sim, gate):
    await gate.pulse_open(20_000)
    await gate.lock()
    assert relay(sim)["passage"] == "locked"
    assert relay(sim)["timer_s"] is None


async def test_pulse_longer_than_the_binding_carries_is_refused(sim, gate):
    before = sim.state()["commands"]
    with pytest.raises(ValueError, match="25500 ms"):
        await gate.pulse_open(30_000)
    assert sim.state()["commands"] == before


async def test_feedback_colours_and_beeps(sim, gate):
    await gate.feedback(granted=True)
    state = sim.state()
    assert (state["led"]["on_color"], state["buzzer"]["on_count"]) == (2, 1)  # green, 100 ms
    await gate.feedback(granted=False)
    state = sim.state()
    assert (state["led"]["on_color"], state["buzzer"]["on_count"]) == (1, 10)  # red, 1 s


async def test_feedback_skips_what_the_pd_lacks(make_sim, make_gate):
    sim = make_sim(pd_spec(leds=0, buzzer=False))
    gate = await make_gate(sim)
    await gate.feedback(granted=True)
    assert sim.state()["commands"] == 0
    assert gate.online  # a command the PD would NAK would have taken it offline


# --- safety -------------------------------------------------------------------------------


async def test_close_releases_the_exit_first(sim, gate):
    await gate.lock()
    assert relay(sim)["passage"] == "locked"
    await gate.close()
    state = sim.state()
    assert state["relay"]["passage"] == "open"
    assert state["relay_changes"][-1]["why"] == f"command {PERMANENT_OFF}"
    assert state["failsafe_trips"] == 0
    assert gate.lock_state() is LockState.RELEASED
    assert not gate.line.is_open
    await gate.close()  # twice is fine


async def test_control_panel_loss_makes_the_exit_fail_open(make_sim, make_gate, events):
    sim = make_sim(pd_spec(watchdog_s=0.5))
    gate = await make_gate(sim)
    await gate.lock()
    assert relay(sim)["passage"] == "locked"
    await gate.line.close()  # the CP goes away without a word to the PD
    down = await next_of(events, GateLinkChanged)
    while down.online:
        down = await next_of(events, GateLinkChanged)
    assert "not polled" in down.reason
    assert gate.lock_state() is LockState.UNKNOWN
    await until(lambda: relay(sim)["failsafe"], timeout_s=3.0, what="PD watchdog")
    state = sim.state()
    assert state["relay"]["passage"] == "open"
    assert state["relay_changes"][-1]["why"] == "failsafe"
    await gate.close()  # release cannot be sent any more, and must not raise


async def test_secret_key_stays_out_of_reprs(sim, gate):
    for text in (repr(gate.settings), str(gate.settings), repr(gate), repr(gate.line._pds)):
        assert KEY.hex() not in text
        assert "**********" in text or "OsdpGate" in text


def test_gate_on_a_shared_line_must_be_listed(sim):
    from devices.bus import Bus
    from devices.gate.osdp_config import OsdpLineSettings
    from devices.gate.osdp_line import OsdpLine, OsdpPdSpec

    from .osdptools import gate_settings

    line = OsdpLine(OsdpLineSettings(port=sim.path), [OsdpPdSpec(1, gate_settings().scbk)])
    with pytest.raises(ValueError, match="not set up for address 3"):
        OsdpGate("g", gate_settings(), line=line, bus=Bus())


async def test_noisy_line_repeats_no_card_and_recovers(make_sim, make_gate, events):
    # With byte loss libosdp retries lost frames, and restarts the session on a NAK; a card
    # whose reply was lost just before a session restart is gone (OSDP discards it on
    # sequence reset). What must hold: no card twice, none out of order, and a working
    # link once the noise stops.
    sim = make_sim(pd_spec(watchdog_s=None), seed=7)
    gate = await make_gate(sim, link_timeout_s=2.5)
    sim.set_fault("drop_bytes", rate=0.005)
    cards = [f"{n:07X}" for n in range(1, 7)]
    for card in cards:
        sim.card(f"{int(card, 16) << 6:08X}", 26)
    await until(lambda: sim.state()["bytes_dropped"] >= 2, timeout_s=20, what="bytes lost")
    sim.set_fault("none")
    sim.card(f"{0xABCDEF << 6:08X}", 26)
    got = []
    while (message := await next_of(events, CredentialPresented, timeout_s=20.0)).credential != (
        "0ABCDEF"
    ):
        got.append(message.credential)
    assert got == sorted(set(got))
    assert set(got) <= set(cards)
    await until(lambda: gate.online, timeout_s=10, what="link up after the noise")
