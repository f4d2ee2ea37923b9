"""snmpsim serving real UPS recordings (and a few edited copies) for the SNMP UPS tests.

One snmpsim-command-responder per test package run, on a free loopback UDP
port: every recording under ``snmpsim_data/data/UPS/`` that carries UPS-MIB,
the hand-made PowerNet file of ``data/``, and variants written here (each
documented in ``VARIANTS``). The community of a recording is its file name
without ``.snmprec[.bz2]``; for SNMPv3 the context name is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers.snmprec import (
    UPS_RECORDINGS,
    Record,
    carries_subtree,
    community_of,
    copy_recording,
    read_community,
    read_snmprec,
    with_changes,
    write_snmprec,
)
from peers.snmpsim import Snmpsim, V3User

from devices.snmp import AuthProtocol, PrivProtocol, SnmpTarget, UsmUser

HANDMADE = Path(__file__).parent / "data" / "apc-smart-ups-handmade.snmprec"

UPS_MIB = "1.3.6.1.2.1.33"
UPS = UPS_MIB + ".1."
APC = "1.3.6.1.4.1.318.1.1.1."

V3_AUTH_USERS = {  # user -> (protocol, key): authNoPriv users
    "ups-md5": (AuthProtocol.MD5, "md5-auth-key-1"),
    "ups-sha": (AuthProtocol.SHA, "sha-auth-key-1"),
    "ups-sha256": (AuthProtocol.SHA256, "sha256-auth-key-1"),
}
V3_PRIV_USER = (
    "ups-priv",
    AuthProtocol.SHA,
    "priv-auth-key-1",
    PrivProtocol.AES,
    "priv-priv-key-1",
)
_SNMPSIM_PROTO = {
    AuthProtocol.MD5: "MD5",
    AuthProtocol.SHA: "SHA",
    AuthProtocol.SHA256: "SHA256",
    PrivProtocol.AES: "AES",
}


def ups_mib_recordings() -> list[Path]:
    """Every recording of snmpsim-data's UPS folder that has UPS-MIB objects."""
    return sorted(
        p
        for p in UPS_RECORDINGS.iterdir()
        if p.name.endswith((".snmprec", ".snmprec.bz2")) and carries_subtree(p, UPS_MIB)
    )


def _phoenixtec_on_battery(records: dict[str, Record]) -> dict[str, Record]:
    return with_changes(
        records,
        {
            UPS + "2.1.0": "2|3",  # batteryLow
            UPS + "2.2.0": "2|340",
            UPS + "2.3.0": "2|2",
            UPS + "2.4.0": "2|11",
            UPS + "4.1.0": "2|5",  # battery
            UPS + "6.1.0": "66|3",
            # Alarm ids 1, 2, 5: not 1..n. The third is a vendor alarm OID.
            UPS + "6.2.1.2.1": f"6|{UPS}6.3.2",
            UPS + "6.2.1.2.2": f"6|{UPS}6.3.3",
            UPS + "6.2.1.2.5": "6|1.3.6.1.4.1.935.1.1.1.99",
            UPS + "6.2.1.3.1": "67|1000",
            UPS + "6.2.1.3.2": "67|1200",
            UPS + "6.2.1.3.5": "67|1300",
        },
    )


def _eaton_general_fault(records: dict[str, Record]) -> dict[str, Record]:
    return with_changes(
        records,
        {UPS + "6.1.0": "66|1", UPS + "6.2.1.2.7": f"6|{UPS}6.3.18", UPS + "6.2.1.3.7": "67|5"},
    )


def _eastpower_self_test(records: dict[str, Record]) -> dict[str, Record]:
    return with_changes(
        records,
        {
            UPS + "7.1.0": f"6:writecache|value={UPS}7.7.1",  # upsTestId, writable
            UPS + "7.2.0": "2:writecache|value=1",  # upsTestSpinLock, writable
        },
    )


def _huawei_self_test_refused(records: dict[str, Record]) -> dict[str, Record]:
    return with_changes(
        records, {UPS + "7.1.0": f"6:writecache|value={UPS}7.7.1,status=notwritable,op=set"}
    )


def _apc_adv_only(records: dict[str, Record]) -> dict[str, Record]:
    return {
        oid: r
        for oid, r in records.items()
        if not oid.startswith((APC + "2.3.", APC + "3.3.", APC + "4.3."))
    }


def _apc_on_battery(records: dict[str, Record]) -> dict[str, Record]:
    return with_changes(
        records,
        {
            APC + "2.1.1.0": "2|3",  # batteryLow
            APC + "2.1.2.0": "67|15000",  # 150 s on battery
            APC + "2.2.3.0": "67|24000",  # 4 min left
            APC + "2.2.4.0": "2|2",  # batteryNeedsReplacing
            APC + "2.3.1.0": "66|123",
            APC + "3.3.1.0": "66|0",
            APC + "3.3.4.0": "66|0",
            APC + "4.1.1.0": "2|3",  # onBattery
        },
    )


@dataclass(frozen=True)
class Variant:
    origin: str  # the recording it is made from (its quirks apply)
    make: Callable[[dict[str, Record]], dict[str, Record]]
    why: str


VARIANTS = {
    "ietf-onbattery-alarms": Variant(
        "phoenixtec-power",
        _phoenixtec_on_battery,
        "on battery with a low battery; alarm table rows 1, 2, 5 incl. a vendor alarm",
    ),
    "ietf-fault": Variant(
        "eaton-93e-80", _eaton_general_fault, "on mains with upsAlarmGeneralFault in the table"
    ),
    "ietf-selftest": Variant(
        "eastpower-istars-swv053",
        _eastpower_self_test,
        "upsTestId and upsTestSpinLock writable (snmpsim writecache)",
    ),
    "ietf-selftest-refused": Variant(
        "huawei-gse200m", _huawei_self_test_refused, "upsTestId answers SET with notWritable"
    ),
    "apc-smart-ups-advonly": Variant(
        "apc-smart-ups-handmade", _apc_adv_only, "an old card: no HighPrec objects"
    ),
    "apc-smart-ups-onbattery": Variant(
        "apc-smart-ups-handmade", _apc_on_battery, "on battery, battery low, replace battery"
    ),
}


@dataclass(frozen=True)
class Agent:
    host: str
    port: int
    data_dir: Path
    origins: dict[str, str]  # community -> recording it comes from

    def target(self, timeout_s: float = 1.0, retries: int = 1) -> SnmpTarget:
        return SnmpTarget(self.host, self.port, timeout_s=timeout_s, retries=retries)

    def records(self, community: str) -> dict[str, Record]:
        return read_community(self.data_dir, community)


def v3_user(name: str, context: str, *, auth_key: str | None = None) -> UsmUser:
    protocol, key = V3_AUTH_USERS[name]
    return UsmUser(name, protocol, auth_key or key, context_name=context)


def _snmpsim_users() -> list[V3User]:
    users = [
        V3User(user, key, auth_proto=_SNMPSIM_PROTO[protocol])
        for user, (protocol, key) in V3_AUTH_USERS.items()
    ]
    user, auth, auth_key, priv, priv_key = V3_PRIV_USER
    users.append(V3User(user, auth_key, priv_key, _SNMPSIM_PROTO[auth], _SNMPSIM_PROTO[priv]))
    return users


@pytest.fixture(scope="package")
def snmpsim_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    data = tmp_path_factory.mktemp("snmpsim") / "data"
    data.mkdir()
    origins: dict[str, str] = {}
    for recording in (*ups_mib_recordings(), HANDMADE):
        community = copy_recording(recording, data)
        origins[community] = community
    for name, variant in VARIANTS.items():
        source = next(p for p in data.iterdir() if community_of(p) == variant.origin)
        write_snmprec(
            data / f"{name}.snmprec",
            variant.make(read_snmprec(source)),
            header=f"Edited copy of {source.name} for walkout's tests: {variant.why}",
        )
        origins[name] = variant.origin
    with Snmpsim(data, "phoenixtec-power", users=_snmpsim_users()) as snmpsim:
        yield Agent(snmpsim.host, snmpsim.port, data, origins)
