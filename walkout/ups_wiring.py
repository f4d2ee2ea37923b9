"""The store's UPS units from config: drivers, trap-driven polling and grid events.

SNMP units are polled by a ``UpsPollLoop`` (their fixed grid, or at once when
one of their traps arrives); NUT units are ordinary coordinator jobs. Every
reading goes through that unit's ``GridEventDetector`` on its way to the bus,
so a transfer to battery is published in the same step as the reading that
showed it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devices.bus import Bus, Message
from devices.coordinator import PollingCoordinator
from devices.snmp import AuthProtocol, Community, Credentials, PrivProtocol, SnmpTarget, UsmUser
from devices.snmp.traps import TrapReceiver
from devices.ups.grid import GridConfig, GridEventDetector
from devices.ups.nut import NutConnection, NutUps
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading
from devices.ups.trap_poll import UpsPollLoop, UpsTrapRouter
from walkout.config import GridBands, SnmpAgent, StoreConfig
from walkout.config import NutUps as NutUpsConfig
from walkout.config import SnmpUps as SnmpUpsConfig

_LOGGER = logging.getLogger(__name__)

_AUTH = {
    "md5": AuthProtocol.MD5,
    "sha": AuthProtocol.SHA,
    "sha224": AuthProtocol.SHA224,
    "sha256": AuthProtocol.SHA256,
    "sha384": AuthProtocol.SHA384,
    "sha512": AuthProtocol.SHA512,
}
_PRIV = {
    "des": PrivProtocol.DES,
    "aes": PrivProtocol.AES,
    "aes192": PrivProtocol.AES192,
    "aes256": PrivProtocol.AES256,
}


def snmp_credentials(agent: SnmpAgent) -> Credentials:
    """Credentials for an agent; v3 keys are read from their secret references here."""
    if agent.v3 is None:
        return Community(agent.community, "1" if agent.version == "1" else "2c")
    v3 = agent.v3
    return UsmUser(
        v3.user,
        auth_protocol=_AUTH[v3.auth_protocol],
        auth_key=v3.auth_key.reveal(),
        priv_protocol=_PRIV[v3.priv_protocol],
        priv_key=v3.priv_key.reveal(),
    )


def grid_emitter(bands: GridBands) -> Callable[[UpsReading], Sequence[Message]]:
    """Emit function of one UPS: its reading, then any grid event start or end it shows."""
    detector = GridEventDetector(GridConfig(**bands.model_dump()))

    def emit(reading: UpsReading) -> Sequence[Message]:
        return [reading, *detector.feed(reading)]

    return emit


@dataclass
class UpsWiring:
    """Every configured UPS, the trap receiver and what runs them."""

    snmp: list[SnmpUps] = field(default_factory=list)
    nut: list[NutUps] = field(default_factory=list)
    loops: list[UpsPollLoop] = field(default_factory=list)
    connections: list[NutConnection] = field(default_factory=list)
    receiver: TrapReceiver | None = None
    router: UpsTrapRouter | None = None

    @classmethod
    def build(cls, config: StoreConfig, bus: Bus, coordinator: PollingCoordinator) -> UpsWiring:
        """Drivers for every UPS in the config: NUT units join ``coordinator`` now."""
        wiring = cls()
        facility = config.facility
        for ups in facility.ups:
            emit = grid_emitter(facility.grid)
            if isinstance(ups, SnmpUpsConfig):
                driver = _snmp_ups(ups)
                wiring.snmp.append(driver)
                wiring.loops.append(UpsPollLoop(coordinator, driver, ups.rate_hz, emit))
            else:
                nut, connection = _nut_ups(ups)
                wiring.nut.append(nut)
                wiring.connections.append(connection)
                coordinator.add(nut, ups.rate_hz, emit)
        if facility.traps is not None and wiring.snmp:
            traps = facility.traps
            wiring.receiver = TrapReceiver(traps.host, traps.port, traps.communities)
            wiring.router = UpsTrapRouter(bus, wiring.snmp)
        return wiring

    async def start(self) -> None:
        """Bind the trap port (a port in use is an error now, not a silent loss later)."""
        if self.receiver is not None:
            await self.receiver.start()

    async def run(self) -> None:
        """Poll the SNMP units and route their traps until cancelled."""
        async with asyncio.TaskGroup() as group:
            for loop in self.loops:
                group.create_task(loop.run(), name=f"ups:{loop.ups.device_id}")
            if self.router is not None and self.receiver is not None:
                group.create_task(self.router.run(self.receiver), name="ups-traps")

    async def close(self) -> None:
        """Close the trap port, the SNMP sessions and the NUT connections, each on every path."""
        try:
            if self.receiver is not None:
                await self.receiver.close()
        finally:
            for driver in self.snmp:
                await driver.close()
            for connection in self.connections:
                await connection.close()


def _snmp_ups(ups: SnmpUpsConfig) -> SnmpUps:
    agent = ups.agent
    target = SnmpTarget(agent.host, agent.port, timeout_s=agent.timeout_s, retries=agent.retries)
    return SnmpUps(
        ups.id,
        target,
        snmp_credentials(agent),
        profile=None if ups.profile == "auto" else ups.profile,
        trap_hosts=ups.trap_hosts,
    )


def _nut_ups(ups: NutUpsConfig) -> tuple[NutUps, NutConnection]:
    password = ups.password.reveal() if ups.password is not None else None
    connection = NutConnection(
        ups.host,
        ups.port,
        timeout_s=ups.timeout_s,
        username=ups.username,
        password=password,
        login=ups.ups if ups.username is not None else None,
    )
    return NutUps(ups.id, connection, ups.ups), connection
