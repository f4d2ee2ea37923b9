"""SNMPv3 (USM) against snmpsim: authNoPriv with MD5, SHA, SHA-256; wrong keys; authPriv.

snmpsim serves each recording in the SNMPv3 context named like its community.
"""

from __future__ import annotations

import pytest

from devices.errors import DeviceAuthError, DeviceConnectionError
from devices.snmp import AuthProtocol, PrivProtocol, SnmpClient, UsmUser, privacy_available
from devices.ups.snmp import SnmpUps

from .conftest import V3_AUTH_USERS, V3_PRIV_USER, Agent, v3_user
from .expected import expected_ietf
from .test_recordings import assert_matches

CONTEXT = "huawei-gse200m"


@pytest.mark.parametrize("user", sorted(V3_AUTH_USERS))
async def test_auth_no_priv_reads_the_recording(snmpsim_agent: Agent, user: str):
    ups = SnmpUps("h", snmpsim_agent.target(), v3_user(user, CONTEXT))
    async with ups:
        reading = await ups.read()
    assert_matches(reading, expected_ietf(snmpsim_agent.records(CONTEXT), CONTEXT))


async def test_context_selects_the_recording(snmpsim_agent: Agent):
    async with SnmpClient(snmpsim_agent.target(), v3_user("ups-sha", "eaton-93e-80")) as client:
        values = await client.get(["1.3.6.1.2.1.33.1.1.1.0"])
    assert values["1.3.6.1.2.1.33.1.1.1.0"] is not None
    assert values["1.3.6.1.2.1.33.1.1.1.0"].text() == "EATON"


async def test_wrong_auth_key_is_an_auth_error(snmpsim_agent: Agent):
    creds = v3_user("ups-sha256", CONTEXT, auth_key="not-the-right-key")
    async with SnmpClient(snmpsim_agent.target(timeout_s=0.5), creds) as client:
        with pytest.raises(DeviceAuthError, match="wrong authentication key") as info:
            await client.get(["1.3.6.1.2.1.1.1.0"])
    assert "not-the-right-key" not in str(info.value)


async def test_wrong_auth_protocol_is_an_auth_error(snmpsim_agent: Agent):
    creds = UsmUser(
        "ups-sha256", AuthProtocol.MD5, V3_AUTH_USERS["ups-sha256"][1], context_name=CONTEXT
    )
    async with SnmpClient(snmpsim_agent.target(timeout_s=0.5), creds) as client:
        with pytest.raises(DeviceAuthError, match="digest"):
            await client.get(["1.3.6.1.2.1.1.1.0"])


async def test_unknown_user_is_an_auth_error(snmpsim_agent: Agent):
    creds = UsmUser("nobody", AuthProtocol.SHA, "whatever-key-1", context_name=CONTEXT)
    ups = SnmpUps("h", snmpsim_agent.target(timeout_s=0.5), creds)
    with pytest.raises(DeviceAuthError, match="does not know this user"):
        await ups.connect()
    await ups.close()


def _priv_user(priv_key: str | None = None) -> UsmUser:
    user, auth, auth_key, priv, key = V3_PRIV_USER
    return UsmUser(user, auth, auth_key, priv, priv_key or key, context_name=CONTEXT)


@pytest.mark.skipif(
    not privacy_available(),
    reason="SNMPv3 privacy needs the 'cryptography' package (>= 43), not installed here",
)
async def test_auth_priv_aes_reads_and_wrong_priv_key_fails(snmpsim_agent: Agent):
    ups = SnmpUps("h", snmpsim_agent.target(), _priv_user())
    async with ups:
        reading = await ups.read()
    assert_matches(reading, expected_ietf(snmpsim_agent.records(CONTEXT), CONTEXT))
    async with SnmpClient(snmpsim_agent.target(timeout_s=0.5), _priv_user("wrong-priv-key")) as c:
        with pytest.raises(DeviceAuthError, match="privacy"):
            await c.get(["1.3.6.1.2.1.1.1.0"])


@pytest.mark.skipif(privacy_available(), reason="only meaningful without 'cryptography'")
async def test_auth_priv_without_crypto_says_what_is_missing(snmpsim_agent: Agent):
    client = SnmpClient(snmpsim_agent.target(), _priv_user())
    with pytest.raises(DeviceConnectionError, match="cryptography"):
        await client.open()
    assert not client.is_open


def test_priv_protocol_values_are_the_documented_ones():
    assert {p.value for p in PrivProtocol} == {"DES", "AES", "AES-192", "AES-256"}
