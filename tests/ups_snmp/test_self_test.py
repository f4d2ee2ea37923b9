"""The self-test command: accepted where the agent lets us write, a clear error where not.

ietf-selftest (eastpower copy) has upsTestId and upsTestSpinLock writable;
ietf-selftest-refused (huawei copy) answers the SET with notWritable; the
unedited recordings treat upsTestId as read-only (snmpsim then answers with
noSuchInstance); the PowerNet file has upsAdvTestDiagnostics writable.
"""

from __future__ import annotations

import pytest

from devices.errors import DeviceCommandError
from devices.snmp import Community, SnmpClient
from devices.ups.snmp import SnmpUps

from .conftest import Agent

UPS_TEST_ID = "1.3.6.1.2.1.33.1.7.1.0"
QUICK_BATTERY_TEST = "1.3.6.1.2.1.33.1.7.7.4"  # RFC 1628 upsTestQuickBatteryTest
ADV_TEST_DIAGNOSTICS = "1.3.6.1.4.1.318.1.1.1.7.2.2.0"


async def test_ietf_self_test_sets_upstestid(snmpsim_agent: Agent):
    ups = SnmpUps("s", snmpsim_agent.target(), Community("ietf-selftest"))
    async with ups:
        await ups.self_test()
    async with SnmpClient(snmpsim_agent.target(), Community("ietf-selftest")) as client:
        values = await client.get([UPS_TEST_ID])
    assert values[UPS_TEST_ID] is not None
    assert values[UPS_TEST_ID].text() == QUICK_BATTERY_TEST


async def test_not_writable_is_a_command_error(snmpsim_agent: Agent):
    ups = SnmpUps("s", snmpsim_agent.target(), Community("ietf-selftest-refused"))
    async with ups:
        with pytest.raises(DeviceCommandError, match=r"refused the self-test: notWritable"):
            await ups.self_test()


async def test_read_only_recording_is_a_command_error(snmpsim_agent: Agent):
    ups = SnmpUps("s", snmpsim_agent.target(), Community("huawei-gse200m"))
    async with ups:
        with pytest.raises(DeviceCommandError, match="refused the self-test"):
            await ups.self_test()


async def test_powernet_self_test(snmpsim_agent: Agent):
    ups = SnmpUps("a", snmpsim_agent.target(), Community("apc-smart-ups-handmade"))
    async with ups:
        await ups.self_test()
    async with SnmpClient(snmpsim_agent.target(), Community("apc-smart-ups-handmade")) as client:
        value = (await client.get([ADV_TEST_DIAGNOSTICS]))[ADV_TEST_DIAGNOSTICS]
    assert value is not None
    assert value.number == 2  # testDiagnostics
