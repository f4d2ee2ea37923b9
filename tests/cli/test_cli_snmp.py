"""``walkout scan snmp`` and ``walkout snmp dump`` as child processes.

The agents: the UPS simulator in this process (its own hand-written SNMP agent,
frozen by a manual clock), and snmpsim serving a hand-made APC recording, a real
UPS recording from snmpsim-data, and a synthetic one written by the fixture
writer. A dump is proven loadable by serving it with a fresh snmpsim and reading
it with the UPS driver, which must read what it reads from the unit itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.snmprec import (
    UPS_RECORDINGS,
    Record,
    community_of,
    copy_recording,
    read_snmprec,
    snmprec_comments,
)
from peers.snmpsim import Snmpsim, V3User

from devices.snmp import Community, SnmpClient, SnmpTarget, SnmpValue, Syntax, oid_tuple
from devices.ups.snmp import SnmpUps
from devices.ups.snmp_fixture import Redactor, snmprec_line, write_snmprec
from devices.ups.state import UpsReading, UpsStatus
from sim_devices.clock import ManualClock
from sim_devices.ups import AgentConfig, UpsConfig, UpsParams, UpsSimulator
from walkout.cli.snmp_scan import MAX_HOSTS, Address, parse_targets
from walkout.config import SnmpUps as SnmpUpsConfig

from .clitools import WALKOUT, Result, cli_env, finish, table_rows
from .snmptools import HANDMADE_APC, octets_text

SCAN_USER = V3User("walkout-scan", "scan-auth-key-1", "scan-priv-key-1")
PHOENIXTEC = UPS_RECORDINGS / "phoenixtec-power.snmprec.bz2"
ROUNDTRIP = "1.3.6.1.4.1.32473.9"  # RFC 5612 documentation enterprise
FAST = ("--timeout", "0.3", "--retries", "0")

# What identifies the simulated store: none of it may reach a fixture.
SIM_NAME = "store0042-rack-ups"
SIM_CONTACT = "ops-0042@store.example"
SIM_LOCATION = "Store 0042, Main St 12, rack B"
SIM_IDENT_NAME = "UPS-0042-SN7Q3X9"
SIM_ATTACHED = "store 0042 checkout servers"
SIM_DESCR = "walkout simulated UPS [/] [b]not markup[/b]"
SIM_CHARGE_PCT = 87.0
SIM_INPUT_V = 221.0


async def snmp_cli(
    command: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> Result:
    """Run ``walkout scan snmp ARGS`` (command "scan") or ``walkout snmp dump ARGS`` ("dump")."""
    argv = ("scan", "snmp", *args) if command == "scan" else ("snmp", "dump", *args)
    proc = await asyncio.create_subprocess_exec(
        str(WALKOUT),
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**cli_env(), **(env or {})},
    )
    return await finish(proc, (command, *args))


# --- fixtures ----------------------------------------------------------------------------------

ROUNDTRIP_VALUES: dict[str, SnmpValue] = {
    f"{ROUNDTRIP}.1.0": SnmpValue(Syntax.INTEGER, -5),
    f"{ROUNDTRIP}.2.0": SnmpValue(Syntax.OCTET_STRING, b"plain text"),
    f"{ROUNDTRIP}.3.0": SnmpValue(Syntax.OCTET_STRING, b" padded both ends "),
    f"{ROUNDTRIP}.4.0": SnmpValue(Syntax.OCTET_STRING, b""),
    f"{ROUNDTRIP}.5.0": SnmpValue(Syntax.OCTET_STRING, b"a|b|c"),
    f"{ROUNDTRIP}.6.0": SnmpValue(Syntax.OCTET_STRING, b"\xff\x00\x01binary"),
    f"{ROUNDTRIP}.7.0": SnmpValue(Syntax.OCTET_STRING, "Grüße".encode()),
    f"{ROUNDTRIP}.8.0": SnmpValue(Syntax.OCTET_STRING, b"two\nlines"),
    f"{ROUNDTRIP}.9.0": SnmpValue(Syntax.OID, "1.3.6.1.4.1.318.1.3.27"),
    f"{ROUNDTRIP}.10.0": SnmpValue(Syntax.IP_ADDRESS, bytes([10, 1, 2, 3])),
    f"{ROUNDTRIP}.11.0": SnmpValue(Syntax.COUNTER32, 4294967295),
    f"{ROUNDTRIP}.12.0": SnmpValue(Syntax.GAUGE32, 7),
    f"{ROUNDTRIP}.13.0": SnmpValue(Syntax.TIMETICKS, 12345),
    f"{ROUNDTRIP}.14.0": SnmpValue(Syntax.COUNTER64, 2**63 + 5),
    f"{ROUNDTRIP}.15.0": SnmpValue(Syntax.OPAQUE, b"\x01\x02"),
    # Table-like indices that sort differently as text and as numbers.
    f"{ROUNDTRIP}.16.2": SnmpValue(Syntax.INTEGER, 2),
    f"{ROUNDTRIP}.16.10": SnmpValue(Syntax.INTEGER, 10),
}


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """Recordings: the hand-made APC, snmpsim-data's phoenixtec-power, and ``roundtrip``."""
    data = tmp_path_factory.mktemp("scan-agents") / "data"
    data.mkdir()
    copy_recording(HANDMADE_APC, data)
    copy_recording(PHOENIXTEC, data)
    write_snmprec(data / "roundtrip.snmprec", ["values of every syntax"], ROUNDTRIP_VALUES)
    agent = Snmpsim(data, community_of(HANDMADE_APC), users=(SCAN_USER,))
    try:
        yield agent
    finally:
        agent.stop()


def sim_config() -> UpsConfig:
    return UpsConfig(
        ups=UpsParams(name=SIM_IDENT_NAME, attached_devices=SIM_ATTACHED),
        agent=AgentConfig(
            sys_name=SIM_NAME,
            sys_contact=SIM_CONTACT,
            sys_location=SIM_LOCATION,
            sys_descr=SIM_DESCR,
        ),
    )


@pytest.fixture
async def ups_sim() -> AsyncIterator[UpsSimulator]:
    """The UPS simulator on a free port, its model frozen (a manual clock) after two changes."""
    async with UpsSimulator(sim_config(), clock=ManualClock()) as sim:
        sim.set_charge(SIM_CHARGE_PCT)
        sim.set_input_voltage(SIM_INPUT_V)
        yield sim


async def read_ups(port: int, community: str) -> UpsReading:
    """One reading by the UPS driver, with the parts that differ between two reads zeroed."""
    ups = SnmpUps(
        "ups", SnmpTarget("127.0.0.1", port, timeout_s=1.0, retries=1), Community(community)
    )
    try:
        reading = await ups.read()
    finally:
        await ups.close()
    return dataclasses.replace(reading, t_mono=0.0)


def store_yaml(path: Path, ups: list[dict[str, Any]]) -> Path:
    data = {"store": {"id": "snmp-tests", "name": "SNMP CLI tests"}, "facility": {"ups": ups}}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def snmp_ups(ups_id: str, port: int, community: str) -> dict[str, Any]:
    agent = {"host": "127.0.0.1", "port": port, "community": community, "timeout_s": 1.0}
    return {"id": ups_id, "type": "snmp", "agent": agent}


def scan_rows(stdout: str) -> dict[str, dict[str, str]]:
    """Rows of the scan table by agent (host:port)."""
    rows = table_rows(stdout)
    assert rows, stdout
    header, *body = rows
    return {row[0]: dict(zip(header, row, strict=True)) for row in body}


def store_items(stdout: str) -> dict[str, dict[str, Any]]:
    """The suggested facility.ups items by agent, validated by store.yaml's own model."""
    items: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("store.yaml facility.ups item for "):
            where, _, item = line.removeprefix("store.yaml facility.ups item for ").partition(
                ": - "
            )
            entry = yaml.safe_load(item)
            SnmpUpsConfig.model_validate(entry)
            items[where] = entry
    return items


# --- scan --------------------------------------------------------------------------------------


async def test_scan_finds_the_simulator_and_a_recording(
    ups_sim: UpsSimulator, snmpsim: Snmpsim, tmp_path: Path
) -> None:
    apc = community_of(HANDMADE_APC)
    apc_records = read_snmprec(HANDMADE_APC)
    result = await snmp_cli(
        "scan", "127.0.0.0/30", f"127.0.0.1:{snmpsim.port}",
        "--port", str(ups_sim.port), "--community", "public", "--community", apc, *FAST,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result
    rows = scan_rows(result.stdout)
    sim_agent, apc_agent = f"127.0.0.1:{ups_sim.port}", f"127.0.0.1:{snmpsim.port}"
    # 127.0.0.2 is in the range but nothing listens there: counted, not listed.
    assert sorted(rows) == sorted([sim_agent, apc_agent]), result
    assert rows[sim_agent]["credentials"] == "v2c community 'public'"
    assert rows[sim_agent]["sysName"] == SIM_NAME
    assert rows[sim_agent]["sysObjectID"] == "1.3.6.1.2.1.33"
    assert rows[sim_agent]["profile"] == "ietf (UPS)"
    assert rows[sim_agent]["unit"] == "walkout SIM-3000RM"
    assert rows[sim_agent]["sysDescr"] == SIM_DESCR  # shown as it came, not as rich markup
    # snmpsim stays silent for 'public' (no such recording): the second community answers.
    assert rows[apc_agent]["credentials"] == f"v2c community {apc!r}"
    assert rows[apc_agent]["sysName"] == apc_records["1.3.6.1.2.1.1.5.0"][1]
    assert rows[apc_agent]["sysObjectID"] == apc_records["1.3.6.1.2.1.1.2.0"][1]
    assert rows[apc_agent]["profile"] == "powernet (UPS)"
    assert rows[apc_agent]["unit"] == apc_records["1.3.6.1.4.1.318.1.1.1.1.1.1.0"][1]
    assert "2 of 3 address(es) answered; 1 silent" in result.stdout
    items = store_items(result.stdout)
    assert items[sim_agent]["agent"] == {
        "host": "127.0.0.1", "port": ups_sim.port, "version": "2c", "community": "public"
    }  # fmt: skip
    assert items[sim_agent]["profile"] == "ietf"
    assert items[apc_agent]["agent"]["community"] == apc
    assert items[apc_agent]["profile"] == "powernet"
    assert len({item["id"] for item in items.values()}) == 2


async def test_scan_with_a_wrong_community_finds_nothing(
    ups_sim: UpsSimulator, tmp_path: Path
) -> None:
    before = ups_sim.agent.counters.in_bad_community_names
    result = await snmp_cli(
        "scan", "127.0.0.1", "--port", str(ups_sim.port), "--community", "not-the-one", *FAST,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 1, result
    assert "0 of 1 address(es) answered; 1 silent" in result.stdout
    assert "store.yaml" not in result.stdout
    # The request did reach the agent, which dropped it for its community.
    assert ups_sim.agent.counters.in_bad_community_names > before


async def test_scan_v3_takes_its_keys_from_the_environment(
    snmpsim: Snmpsim, tmp_path: Path
) -> None:
    context = community_of(PHOENIXTEC)
    records = read_snmprec(PHOENIXTEC)
    keys = {"SCAN_AUTH": SCAN_USER.auth_key, "SCAN_PRIV": SCAN_USER.priv_key}
    base = (
        f"127.0.0.1:{snmpsim.port}", "--v3-user", SCAN_USER.user, "--auth-protocol", "sha",
        "--priv-protocol", "aes", "--context", context, "--priv-key-env", "SCAN_PRIV", *FAST,
    )  # fmt: skip
    good, wrong, unset = await asyncio.gather(
        snmp_cli("scan", *base, "--auth-key-env", "SCAN_AUTH", cwd=tmp_path, env=keys),
        snmp_cli(
            "scan",
            *base,
            "--auth-key-env",
            "SCAN_WRONG",
            cwd=tmp_path,
            env={**keys, "SCAN_WRONG": "not-the-auth-key"},
        ),
        snmp_cli("scan", *base, "--auth-key-env", "SCAN_UNSET", cwd=tmp_path, env=keys),
    )
    assert good.code == 0, good
    (row,) = scan_rows(good.stdout).values()
    assert row["credentials"] == f"v3 user {SCAN_USER.user!r} (authPriv, context {context!r})"
    assert row["sysName"] == records["1.3.6.1.2.1.1.5.0"][1]
    assert row["sysObjectID"] == records["1.3.6.1.2.1.1.2.0"][1]
    assert row["profile"] == "ietf (UPS)"
    assert wrong.code == 1, wrong
    (row,) = scan_rows(wrong.stdout).values()
    assert "wrong authentication key" in row["credentials"], wrong
    assert "1 refused the credentials" in wrong.stdout
    assert unset.code == 2, unset
    assert "environment variable SCAN_UNSET (named by --auth-key-env) is not set" in unset.stderr
    for result in (good, wrong, unset):
        for key in (*keys.values(), "not-the-auth-key"):
            assert key not in result.stdout + result.stderr, result


async def test_scan_refuses_bad_ranges_and_options(tmp_path: Path) -> None:
    cases = {
        ("10.0.0.20-10",): "error: '10.0.0.20-10': the range ends before it starts",
        ("10.0.0.0/8",): f"expands to 16777214 addresses; a scan takes at most {MAX_HOSTS}",
        ("10.0.0.1", "--community", "x", "--v3-user", "u"): "either --community or --v3-user",
        ("10.0.0.1", "--v3-user", "u", "--auth-protocol", "sha1024"): "--auth-protocol must be",
    }
    results = await asyncio.gather(*(snmp_cli("scan", *args, cwd=tmp_path) for args in cases))
    for result, message in zip(results, cases.values(), strict=True):
        assert result.code == 2, result
        assert message in result.stderr, result
        assert "Traceback" not in result.stderr, result


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["10.0.0.0/22", "10.0.8.0/29"], "'10.0.8.0/29' expands to 6 addresses; .* \\(2 left"),
        (["10.0.0.0/22", "10.0.8.1", "10.0.8.2", "10.0.8.3"], "'10.0.8.3' expands to 1"),
        (["10.0.0.300"], "'10.0.0.300': not an IPv4 address"),
        (["10.0.0.1-10.0.0.300"], "'10.0.0.1-10.0.0.300': '10.0.0.300' not an IPv4 address"),
        (["10.0.0.1-256"], "a range ends in 0..255"),
        (["10.0.0.0/33"], "'10.0.0.0/33': not a CIDR range"),
        (["10.0.0.1:70000"], "the port after ':' must be 1..65535"),
        (["10.0.0.1:"], "the port after ':' must be 1..65535"),
        (["fe80::1"], "IPv6 is not supported"),
        (["bad_host!"], "not an IPv4 address, host name, CIDR range"),
        ([" "], "not an IPv4 address, host name"),
    ],
)
def test_bad_targets_are_refused_naming_the_item(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_targets(items, 161)


def test_targets_expand_ranges_in_order_without_duplicates() -> None:
    assert parse_targets(["127.0.0.0/30", "127.0.0.2", "10.0.0.254-10.0.1.1:1161"], 161) == [
        Address("127.0.0.1", 161),
        Address("127.0.0.2", 161),
        Address("10.0.0.254", 1161),
        Address("10.0.0.255", 1161),
        Address("10.0.1.0", 1161),
        Address("10.0.1.1", 1161),
    ]
    assert len(parse_targets(["10.0.0.10-20"], 161)) == 11
    assert parse_targets(["ups-1.store.example:16161", "10.0.0.7/32"], 161) == [
        Address("ups-1.store.example", 16161),
        Address("10.0.0.7", 161),
    ]
    assert len(parse_targets(["10.0.0.0/22"], 161)) == 1022  # a /22 fits under the cap


# --- snmprec and redaction ---------------------------------------------------------------------


async def test_written_values_come_back_from_snmpsim_unchanged(snmpsim: Snmpsim) -> None:
    target = SnmpTarget("127.0.0.1", snmpsim.port, timeout_s=1.0, retries=1)
    async with SnmpClient(target, Community("roundtrip")) as client:
        walked = dict(await client.walk(ROUNDTRIP))
    assert walked == ROUNDTRIP_VALUES


def test_snmprec_lines_use_snmpsims_tags() -> None:
    assert snmprec_line("1.3.6.1.2.1.1.1.0", SnmpValue(Syntax.OCTET_STRING, b"UPS")) == (
        "1.3.6.1.2.1.1.1.0|4|UPS"
    )
    assert snmprec_line("1.3", SnmpValue(Syntax.OCTET_STRING, b"x ")) == "1.3|4x|7820"
    assert snmprec_line("1.3", SnmpValue(Syntax.IP_ADDRESS, bytes([10, 0, 0, 1]))) == (
        "1.3|64|10.0.0.1"
    )
    assert snmprec_line("1.3", SnmpValue(Syntax.COUNTER64, 5)) == "1.3|70|5"
    assert snmprec_line("1.3", SnmpValue(Syntax.TIMETICKS, 5)) == "1.3|67|5"
    assert snmprec_line("1.3", SnmpValue(Syntax.OID, "1.3.6.1")) == "1.3|6|1.3.6.1"


def text(value: str) -> SnmpValue:
    return SnmpValue(Syntax.OCTET_STRING, value.encode())


def test_redactor_replaces_identifying_values_consistently() -> None:
    mac = bytes.fromhex("00c0b7123456")
    walk = {
        "1.3.6.1.2.1.1.1.0": text("Card MN:AP9631 SN: ZA1234567890 at 10.20.30.40, fw v6.8.2.1"),
        "1.3.6.1.2.1.1.4.0": text("noc@store.example"),
        "1.3.6.1.2.1.1.5.0": text("store0042-ups"),
        "1.3.6.1.4.1.318.1.1.1.1.2.3.0": text("ZA1234567890"),
        "1.3.6.1.4.1.99.1.0": text("managed by noc@store.example from store0042-ups"),
        "1.3.6.1.4.1.99.2.0": SnmpValue(Syntax.IP_ADDRESS, bytes([10, 20, 30, 40])),
        "1.3.6.1.4.1.99.3.0": SnmpValue(Syntax.IP_ADDRESS, bytes([127, 0, 0, 1])),
        "1.3.6.1.4.1.99.4.0": SnmpValue(Syntax.IP_ADDRESS, bytes([255, 255, 255, 0])),
        "1.3.6.1.4.1.99.5.0": SnmpValue(Syntax.OCTET_STRING, mac),
        "1.3.6.1.4.1.99.6.0": text("MAC 00:C0:B7:12:34:56, serial port 2, SNMPv2c"),
        "1.3.6.1.4.1.99.7.0": text("public"),
        "1.3.6.1.4.1.99.8.0": SnmpValue(Syntax.INTEGER, 1234567890),
    }
    redactor = Redactor(secrets=("public",))
    out = redactor.redact(walk)
    assert list(out) == sorted(walk, key=oid_tuple)
    rendered = "\n".join(snmprec_line(oid, value) for oid, value in out.items())
    for secret in ("ZA1234567890", "noc@store.example", "store0042-ups", "10.20.30.40"):
        assert secret not in rendered
    assert "00c0b7123456" not in rendered.lower().replace(":", "")
    assert "|public" not in rendered
    serial = out["1.3.6.1.4.1.318.1.1.1.1.2.3.0"].text()
    assert serial.startswith("REDACTED-SERIAL-")
    # One value, one placeholder: the serial in sysDescr, the name and the address everywhere.
    descr = out["1.3.6.1.2.1.1.1.0"].text()
    assert descr.startswith(f"Card MN:AP9631 SN: {serial} at ")
    assert descr.endswith(", fw v6.8.2.1")  # a version is not an address
    address = descr.split(" at ")[1].split(",")[0]
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network("192.0.2.0/24")
    assert out["1.3.6.1.4.1.99.2.0"] == SnmpValue(
        Syntax.IP_ADDRESS, ipaddress.IPv4Address(address).packed
    )
    name = out["1.3.6.1.2.1.1.5.0"].text()
    assert out["1.3.6.1.4.1.99.1.0"].text() == (
        f"managed by {out['1.3.6.1.2.1.1.4.0'].text()} from {name}"
    )
    assert out["1.3.6.1.4.1.99.3.0"] == walk["1.3.6.1.4.1.99.3.0"]  # loopback stays
    assert out["1.3.6.1.4.1.99.4.0"] == walk["1.3.6.1.4.1.99.4.0"]  # a netmask stays
    placeholder_mac = out["1.3.6.1.4.1.99.5.0"].value
    assert isinstance(placeholder_mac, bytes)
    assert len(placeholder_mac) == 6
    assert placeholder_mac[0] & 0x02  # locally administered
    assert out["1.3.6.1.4.1.99.6.0"].text() == (
        f"MAC {placeholder_mac.hex(':')}, serial port 2, SNMPv2c"
    )
    assert out["1.3.6.1.4.1.99.7.0"].text().startswith("REDACTED-COMMUNITY-")
    assert out["1.3.6.1.4.1.99.8.0"] == walk["1.3.6.1.4.1.99.8.0"]  # numbers are measurements
    assert {r.oid for r in redactor.redactions} == {oid for oid in walk if out[oid] != walk[oid]}


# --- dump --------------------------------------------------------------------------------------


async def serve_and_read(fixture: Path, workdir: Path) -> UpsReading:
    """Serve a dump with a new snmpsim and read it with the UPS driver."""
    data = workdir / "replay"
    data.mkdir()
    community = copy_recording(fixture, data)
    agent = await asyncio.to_thread(Snmpsim, data, community)
    try:
        return await read_ups(agent.port, community)
    finally:
        await asyncio.to_thread(agent.stop)


def check_fixture_format(path: Path) -> tuple[list[str], dict[str, Record]]:
    comments, records = snmprec_comments(path), read_snmprec(path)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert [line.split("|", 1)[0] for line in lines] == sorted(records, key=oid_tuple)
    assert {tag for tag, _ in records.values()} <= {
        "2", "4", "4x", "5", "6", "64", "65", "66", "67", "68x", "70",
    }  # fmt: skip
    return comments, records


async def test_dump_of_the_simulator_replays_the_same_readings(
    ups_sim: UpsSimulator, tmp_path: Path
) -> None:
    config = store_yaml(tmp_path / "store.yaml", [snmp_ups("ups-1", ups_sim.port, "public")])
    fixture = tmp_path / "rack-ups.snmprec"
    result = await snmp_cli("dump", "ups-1", "-o", str(fixture), "-c", str(config), cwd=tmp_path)
    assert result.code == 0, result
    assert f"wrote {fixture}:" in result.stdout
    comments, records = check_fixture_format(fixture)
    body = fixture.read_text()
    for identifying in (SIM_NAME, SIM_CONTACT, SIM_LOCATION, SIM_IDENT_NAME, SIM_ATTACHED):
        assert identifying not in body, identifying
    header = "\n".join(comments)
    assert "1.3.6.1.2.1.1.5.0: sysName -> REDACTED-NAME-1" in header
    assert "1.3.6.1.2.1.33.1.1.5.0: upsIdentName -> REDACTED-NAME-2" in header
    assert "profile: ietf" in header
    assert records["1.3.6.1.2.1.1.5.0"] == ("4", "REDACTED-NAME-1")
    assert records["1.3.6.1.2.1.33.1.2.4.0"] == ("2", str(int(SIM_CHARGE_PCT)))
    # The simulator's private counters (Counter64) are under enterprises: walked too.
    assert any(oid.startswith("1.3.6.1.4.1.32473.") for oid in records)

    from_unit = await read_ups(ups_sim.port, "public")
    from_fixture = await serve_and_read(fixture, tmp_path)
    assert from_unit.status is UpsStatus.ON_LINE
    assert from_unit.charge_pct == SIM_CHARGE_PCT
    assert from_unit.input_v == SIM_INPUT_V
    assert from_fixture == from_unit


async def test_dump_of_an_apc_card_redacts_its_serial_number(
    snmpsim: Snmpsim, tmp_path: Path
) -> None:
    apc = community_of(HANDMADE_APC)
    original = read_snmprec(HANDMADE_APC)
    serial = octets_text(original["1.3.6.1.4.1.318.1.1.1.1.2.3.0"])
    config = store_yaml(tmp_path / "store.yaml", [snmp_ups("apc-1", snmpsim.port, apc)])
    fixture = tmp_path / "apc-1.snmprec"
    result = await snmp_cli("dump", "apc-1", "-o", str(fixture), "-c", str(config), cwd=tmp_path)
    assert result.code == 0, result
    comments, records = check_fixture_format(fixture)
    body = fixture.read_text()
    for oid in ("1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.4.1.318.1.1.1.1.1.2.0"):
        assert octets_text(original[oid]) not in body, oid
    assert serial not in body
    descr = octets_text(records["1.3.6.1.2.1.1.1.0"])
    assert "SN: REDACTED-SERIAL-1 " in descr
    assert descr.replace("REDACTED-SERIAL-1", serial) == octets_text(original["1.3.6.1.2.1.1.1.0"])
    assert "upsAdvIdentSerialNumber -> REDACTED-SERIAL-1" in "\n".join(comments)
    # Everything that is not identifying is the recording's own value.
    for oid, record in original.items():
        if oid.startswith("1.3.6.1.4.1.318.1.1.1.2.") and ":" not in record[0]:
            assert records[oid] == record, oid
    from_recording = await read_ups(snmpsim.port, apc)
    from_fixture = await serve_and_read(fixture, tmp_path)
    assert from_recording.via == "snmp:powernet"
    assert from_fixture == from_recording


async def test_dump_refuses_what_it_cannot_do(ups_sim: UpsSimulator, tmp_path: Path) -> None:
    config = store_yaml(
        tmp_path / "store.yaml",
        [
            snmp_ups("ups-1", ups_sim.port, "public"),
            {"id": "nut-1", "type": "nut", "ups": "rack"},
        ],
    )
    c = ("-c", str(config))
    results = await asyncio.gather(
        snmp_cli("dump", "ups-9", "-o", str(tmp_path / "x.snmprec"), *c, cwd=tmp_path),
        snmp_cli("dump", "nut-1", "-o", str(tmp_path / "x.snmprec"), *c, cwd=tmp_path),
        snmp_cli("dump", "ups-1", "-o", str(tmp_path / "x.json"), *c, cwd=tmp_path),
        snmp_cli("dump", "ups-1", "-o", str(tmp_path / "no" / "x.snmprec"), *c, cwd=tmp_path),
    )
    expected = [
        "no SNMP UPS 'ups-9' in facility.ups (known: ups-1)",
        "UPS 'nut-1' is read through NUT",
        "name the fixture NAME.snmprec",
        "no such directory",
    ]
    for result, message in zip(results, expected, strict=True):
        assert result.code == 2, result
        assert message in result.stderr, result
        assert "Traceback" not in result.stderr, result
    assert not [name for name in os.listdir(tmp_path) if ".snmprec" in name]


async def test_plain_dump_of_an_snmp_ups_writes_the_recording(
    ups_sim: UpsSimulator, tmp_path: Path
) -> None:
    """``walkout dump`` (the Modbus units' command) hands an SNMP UPS to the SNMP dump."""
    config = store_yaml(tmp_path / "store.yaml", [snmp_ups("ups-1", ups_sim.port, "public")])
    fixture = tmp_path / "ups-1.snmprec"
    args = ("dump", "ups-1", "-o", str(fixture), "-c", str(config))
    result = await finish(
        await asyncio.create_subprocess_exec(
            str(WALKOUT), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path, env=cli_env(),
        ),
        args,
    )  # fmt: skip
    assert result.code == 0, result
    _, records = check_fixture_format(fixture)
    assert records["1.3.6.1.2.1.33.1.2.4.0"] == ("2", str(int(SIM_CHARGE_PCT)))
    assert SIM_NAME not in fixture.read_text()
