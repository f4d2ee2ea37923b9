"""Pure parts of the bridge: discovery configs, command parsing, topic names, state payloads."""

from __future__ import annotations

import json

import pytest

from devices.crac import CracReading
from devices.gate.machine import Exited
from devices.gpu import GpuReading
from devices.health import Health, HealthChanged, HealthState
from devices.ups.state import UpsReading, UpsStatus
from facility.mqtt_bridge import (
    AlertAckCommand,
    BridgeSettings,
    CommandRejected,
    DemandResponseCommand,
    Discovery,
    FireAlarmCommand,
    ModeOverrideCommand,
    Topics,
    parse_command,
    slug,
)
from facility.mqtt_bridge.state import GateView, StateCache
from mqtt_bridge.ha_schema import validate, validate_all

SENDERS = {"bms": ["fire_alarm", "demand_response"], "ops": ["mode_override", "alert_ack"]}


def _settings() -> BridgeSettings:
    return BridgeSettings(store_id="s1", senders=SENDERS)


def test_discovery_configs_pass_the_home_assistant_checks() -> None:
    disco = Discovery(_settings())
    configs = disco.store_configs()
    configs |= disco.device_configs(
        "ups", UpsReading(source="ups-1", t_mono=0, status=UpsStatus.ON_LINE, via="snmp:ietf")
    )
    configs |= disco.device_configs("crac", CracReading(source="crac/1", t_mono=0))
    configs |= disco.device_configs(
        "gpu", GpuReading(source="gpu0", t_mono=0, index=0, name="NVIDIA H100")
    )
    assert validate_all(configs) == []
    # 3 store + 6 UPS + 4 CRAC + 3 GPU entities
    assert len(configs) == 16
    topics = set(configs)
    assert "homeassistant/sensor/walkout_s1/ups_ups-1_charge_pct/config" in topics
    assert "homeassistant/binary_sensor/walkout_s1/crac_crac_1_alarms/config" in topics
    battery = json.loads(configs["homeassistant/sensor/walkout_s1/ups_ups-1_charge_pct/config"])
    assert battery["state_topic"] == "walkout/s1/ups/ups-1/state"
    assert battery["device_class"] == "battery"
    assert battery["unit_of_measurement"] == "%"
    assert battery["value_template"] == "{{ value_json.charge_pct }}"
    assert battery["availability"][0]["topic"] == "walkout/s1/bridge/availability"
    assert battery["device"]["model"] == "UPS (snmp:ietf)"
    gpu = json.loads(configs["homeassistant/sensor/walkout_s1/gpu_gpu0_power_w/config"])
    assert (gpu["device"]["manufacturer"], gpu["device"]["model"]) == ("NVIDIA", "NVIDIA H100")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.pop("state_topic"), "missing state_topic"),
        (lambda c: c["device"].pop("manufacturer"), "device lacks ['manufacturer']"),
        (lambda c: c.update(unit_of_measurement="mV%"), "not valid for device_class"),
        (lambda c: c.update(availability=[]), "availability must be a non-empty list"),
        (lambda c: c.update(state_class="sometimes"), "state_class 'sometimes'"),
    ],
)
def test_validator_catches_broken_configs(change: object, problem: str) -> None:
    topic, payload = next(iter(Discovery(_settings()).device_configs(
        "ups", UpsReading(source="u", t_mono=0, status=UpsStatus.ON_LINE)
    ).items()))  # fmt: skip
    config = json.loads(payload)
    assert validate(topic, payload) == []
    change(config)  # type: ignore[operator]
    assert any(problem in p for p in validate(topic, json.dumps(config).encode()))


def test_validator_catches_a_bad_topic_and_duplicate_ids() -> None:
    assert validate("homeassistant/sensor/a b/config", b"{}")
    configs = Discovery(_settings()).store_configs()
    (t1, p1), (t2, _) = list(configs.items())[:2]
    assert any("unique_id" in p for p in validate_all({t1: p1, t2 + "x/config": p1}))


def _parse(name: str, payload: dict[str, object] | bytes, **kw: object) -> object:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_command(
        name,
        data,
        senders=SENDERS,
        max_bytes=512,
        t_mono=5.0,
        **kw,  # type: ignore[arg-type]
    )


def test_good_commands_become_durable_messages() -> None:
    fire = _parse("fire_alarm", {"from": "bms", "correlation_id": "c1"})
    assert fire == FireAlarmCommand(
        source="mqtt:bms", t_mono=5.0, sender="bms", correlation_id="c1", active=True
    )
    assert FireAlarmCommand.durable
    dr = _parse("demand_response", {"from": "bms", "minutes": 30})
    assert isinstance(dr, DemandResponseCommand)
    assert (dr.minutes, dr.correlation_id) == (30, None)
    mo = _parse("mode_override", {"from": "ops", "mode": "conserve", "minutes": 10})
    assert isinstance(mo, ModeOverrideCommand)
    assert (mo.mode, mo.minutes) == ("conserve", 10)
    ack = _parse("alert_ack", {"from": "ops", "id": "a-9"}, correlation_data="v5-cd")
    assert isinstance(ack, AlertAckCommand)
    assert (ack.alert_id, ack.correlation_id) == ("a-9", "v5-cd")


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("demand_response", {"from": "bms", "minutes": 0}, "minutes"),
        ("demand_response", {"from": "bms"}, "minutes: Field required"),
        ("mode_override", {"from": "ops", "mode": "party", "minutes": 5}, "mode"),
        ("fire_alarm", {"from": "ops"}, "sender 'ops' is not allowed to send 'fire_alarm'"),
        ("fire_alarm", {"from": "intruder"}, "sender 'intruder' is not allowed"),
        ("fire_alarm", {"active": True}, "from: Field required"),
        ("fire_alarm", {"from": "bms", "extra": 1}, "extra: Extra inputs"),
        ("self_destruct", {"from": "bms"}, "unknown command 'self_destruct'"),
        ("fire_alarm", b"\xff{not json", "not JSON"),
        ("fire_alarm", b"{" + b" " * 600 + b"}", "over the limit of 512"),
    ],
)
def test_bad_commands_are_rejected_with_the_reason(
    name: str, payload: dict[str, object] | bytes, reason: str
) -> None:
    with pytest.raises(CommandRejected, match=reason.replace("'", ".").replace("(", ".")):
        _parse(name, payload)


def test_rejection_keeps_the_correlation_id() -> None:
    with pytest.raises(CommandRejected) as info:
        _parse("demand_response", {"from": "bms", "minutes": -1, "correlation_id": "k"})
    assert info.value.correlation_id == "k"


def test_topics_and_slugs() -> None:
    topics = Topics("walkout", "s1")
    assert topics.device_state("gpu", "host/gpu#0") == "walkout/s1/gpu/host_gpu_0/state"
    assert topics.command_name("walkout/s1/cmd/fire_alarm") == "fire_alarm"
    assert topics.command_name("walkout/s1/cmd/fire_alarm/reply") is None
    assert topics.command_name("walkout/s2/cmd/fire_alarm") is None
    assert slug("") == "_"


def test_state_cache_skips_repeats_and_reports_new_devices() -> None:
    cache = StateCache(Topics("walkout", "s1"))
    reading = UpsReading(source="u1", t_mono=1, status=UpsStatus.ON_BATTERY, charge_pct=80.0)
    assert cache.apply(reading) == ("ups", "u1")
    cache.dirty.clear()
    assert cache.apply(UpsReading(source="u1", t_mono=2, status=UpsStatus.ON_BATTERY,
                                  charge_pct=80.0)) is None  # fmt: skip
    assert not cache.dirty  # same state: nothing to publish
    health = Health("u1", HealthState.OFFLINE, "timeout", 1.0, 3)
    cache.apply(HealthChanged(source="u1", t_mono=3, health=health))
    assert json.loads(cache.payloads["walkout/s1/health/u1/state"]) == {
        "state": "offline", "reason": "timeout", "consecutive_failures": 3,
    }  # fmt: skip
    payload = json.loads(cache.payloads["walkout/s1/ups/u1/state"])
    assert (payload["status"], payload["charge_pct"], payload["runtime_s"]) == (
        "on_battery", 80.0, None,
    )  # fmt: skip


def test_settings_refuse_unsafe_ids() -> None:
    with pytest.raises(ValueError, match="store_id"):
        BridgeSettings(store_id="a/b")
    with pytest.raises(ValueError, match="extra"):
        BridgeSettings(store_id="a", colour="red")  # type: ignore[call-arg]


def test_a_gate_counts_each_passage_once_when_vision_names_it() -> None:
    view = GateView()
    view.apply(Exited(source="exit-1", t_mono=10.0))
    view.apply(Exited(source="exit-1", t_mono=10.0, session_id="s-1"))  # the same passage, bound
    view.apply(Exited(source="exit-1", t_mono=12.0))
    assert view.exits == 2
