"""Precision air conditioner (CRAC) over Modbus TCP or RTU, read and commanded through its profile.

A reading is a handful of registers spread over the input and holding
tables; the read plan covers them in as few transactions as the profile's
``max_read_gap`` allows (two for a ``pcw1``: measurements, then settings).

Commands are verified by reading back, never trusted from the write's
acknowledgement: a unit locked to its panel, or configured with a narrower
setpoint range than its manual, may refuse with an exception response or
may acknowledge the write and drop it. Either way the caller gets a
:class:`CracCommandError` that says what was asked, what the unit holds and,
where the profile maps it, that the unit is in local mode.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

from devices.base import PolledDevice
from devices.crac.messages import CracReading
from devices.crac.profile import BitRef, CracPoint, CracProfile
from devices.crac.readback import CommandReadBack, show
from devices.errors import DeviceError
from devices.modbus.link import MODBUS_EXCEPTIONS, ModbusExceptionError, ModbusLink
from devices.modbus.registers import (
    DataType,
    Locator,
    block_bytes,
    decode,
    encode,
    locate,
    plan_reads,
)

_INT_RANGE = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}


def point_value(point: CracPoint, raw: float) -> float | None:
    """Engineering value of a raw register value; None for the unit's "no value" codes."""
    if point.unknown is not None and raw == point.unknown:
        return None
    if not math.isfinite(raw):
        return None
    value = raw * point.scale
    # int16 x 0.1 gives 23.500000000000004: keep the digits the register has.
    return round(value, 9) if point.integer else value


class ModbusCrac(CommandReadBack, PolledDevice[CracReading]):
    """A CRAC unit on a Modbus link (shared with other units; the CRAC never closes it).

    ``verify_timeout_s`` overrides the profile's: how long a command's
    read-back may take to show the new value before the command counts as
    not applied.
    """

    def __init__(
        self,
        device_id: str,
        link: ModbusLink,
        unit_id: int,
        profile: CracProfile,
        *,
        verify_timeout_s: float | None = None,
        verify_interval_s: float = 0.1,
    ) -> None:
        super().__init__(device_id)
        if not 1 <= unit_id <= 247:
            raise ValueError(f"{device_id}: unit id {unit_id} outside 1..247")
        self.link = link
        self.unit_id = unit_id
        self.profile = profile
        self.verify_timeout_s = (
            verify_timeout_s if verify_timeout_s is not None else profile.commands.verify_timeout_s
        )
        self.verify_interval_s = verify_interval_s
        self.blocks = plan_reads(profile.reading_spans(), max_gap=profile.max_read_gap)
        names = set(profile.readings.values().values())
        names |= {ref.point for ref in profile.readings.bits().values()}
        names |= {word.point for word in profile.alarms}
        self._locators: dict[str, Locator] = {}
        for name in sorted(names):
            point = profile.points[name]
            self._locators[name] = locate(self.blocks, point.span(), point.type, point.word_order)

    @property
    def address(self) -> str:
        """Link address and unit id, for messages."""
        return f"{self.link.address} unit {self.unit_id}"

    async def connect(self) -> None:
        """Open the shared link if it is not open yet."""
        await self.link.ensure_connected()

    async def close(self) -> None:
        """Nothing of the unit's own to release: the link belongs to its owner."""

    # reading -----------------------------------------------------------------------------

    async def read(self) -> CracReading:
        """One reading in as few transactions as the profile allows."""
        buffers: list[bytes] = []
        first_sent = last_received = 0.0
        for n, block in enumerate(self.blocks):
            values, timing = await self.link.read(
                self.unit_id, block.table, block.address, block.count
            )
            buffers.append(block_bytes(values))
            if n == 0:
                first_sent = timing.sent_s
            last_received = timing.received_s
        return self._reading(buffers, (first_sent + last_received) / 2)

    def _reading(self, buffers: Sequence[bytes], t_mono: float) -> CracReading:
        readings = self.profile.readings
        values = {
            field: point_value(self.profile.points[point], self._locators[point].value(buffers))
            for field, point in readings.values().items()
        }

        def bit(ref: BitRef | None) -> bool | None:
            if ref is None:
                return None
            word = int(self._locators[ref.point].value(buffers))
            return bool((word >> ref.bit) & 1) != ref.active_low

        alarms: tuple[str, ...] | None = None
        if self.profile.alarms:
            active: list[str] = []
            for word in self.profile.alarms:
                raw = int(self._locators[word.point].value(buffers))
                active += [name for b, name in word.bits.items() if (raw >> b) & 1]
            alarms = tuple(sorted(active))
        return CracReading(
            source=self.device_id,
            t_mono=t_mono,
            supply_air_c=values.get("supply_air_c"),
            return_air_c=values.get("return_air_c"),
            humidity_pct=values.get("humidity_pct"),
            supply_setpoint_c=values.get("supply_setpoint_c"),
            return_setpoint_c=values.get("return_setpoint_c"),
            fan_pct=values.get("fan_pct"),
            compressors_on=(
                tuple(bool(bit(r)) for r in readings.compressors) if readings.compressors else None
            ),
            heater_on=any(bit(r) for r in readings.heater) if readings.heater else None,
            humidifier_on=bit(readings.humidifier_on),
            unit_on=bit(readings.unit_on),
            local_mode=bit(readings.local_mode),
            alarms=alarms,
        )

    async def read_point(self, name: str) -> float | None:
        """One point of the profile, in its own transaction (value as scaled, None if unknown)."""
        point = self.profile.points.get(name)
        if point is None:
            raise KeyError(f"profile {self.profile.name} has no point {name!r}")
        regs, _ = await self.link.read(self.unit_id, point.table, point.address, point.type.width)
        return point_value(point, decode(regs, point.type, point.word_order))

    async def read_points(self) -> dict[str, float | None]:
        """Every point of the profile, one read each (for probe and commissioning, not polling)."""
        return {name: await self.read_point(name) for name in self.profile.points}

    # commands ------------------------------------------------------------------------------

    async def set_setpoint(self, celsius: float) -> float:
        """Set the temperature setpoint the unit regulates to; returns what it reads back.

        Values outside the profile's range are refused here without writing.
        """
        command = self.profile.commands.setpoint
        if command is None:
            raise self._error(f"profile {self.profile.name} has no setpoint command")
        if not math.isfinite(celsius) or not command.min_c <= celsius <= command.max_c:
            raise self._error(
                f"setpoint {celsius:g} °C outside {command.min_c:g}..{command.max_c:g} °C "
                f"that profile {self.profile.name} allows; nothing was written",
                requested=celsius,
            )
        point = self.profile.points[command.point]
        what = f"setpoint {celsius:g} °C"
        await self._write(command.point, point, celsius / point.scale, what, celsius)
        tolerance = self.profile.setpoint_tolerance_c()

        async def check() -> tuple[bool, object]:
            held = await self.read_point(command.point)
            return held is not None and abs(held - celsius) <= tolerance, held

        applied, held = await self._verify(check)
        if not applied:
            raise self._error(
                f"{what} not applied: the unit reads back {show(held, '°C')} after "
                f"{self.verify_timeout_s:g} s{await self._why()}",
                requested=celsius,
                read_back=held,
            )
        assert isinstance(held, float | int)
        return float(held)

    async def set_unit_on(self, on: bool) -> None:
        """Switch the unit on or off; verified on the command register and the run status."""
        command = self.profile.commands.unit_on
        if command is None:
            raise self._error(f"profile {self.profile.name} has no on/off command")
        value = command.on_value if on else command.off_value
        state = "on" if on else "off"
        point = self.profile.points[command.point]
        await self._write(command.point, point, value, f"switch {state}", on)
        maps_status = self.profile.readings.unit_on is not None

        async def check() -> tuple[bool, object]:
            held = await self.read_point(command.point)
            running = (await self.read()).unit_on if maps_status else None
            ok = held == value and (running is None or running == on)
            return ok, (held, running)

        applied, seen = await self._verify(check)
        if applied:
            return
        assert isinstance(seen, tuple)
        held, running = seen
        status = "" if running is None else f", status says {'running' if running else 'stopped'}"
        raise self._error(
            f"switch {state} not applied: {command.point} reads {show(held, '')}{status} after "
            f"{self.verify_timeout_s:g} s{await self._why()}",
            requested=on,
            read_back=running if running is not None else held,
        )

    async def clear_alarms(self) -> tuple[str, ...]:
        """Reset latched alarms; returns the alarms still active (their cause is not gone)."""
        command = self.profile.commands.clear_alarms
        if command is None:
            raise self._error(
                f"profile {self.profile.name} has no alarm reset (its alarms clear by themselves)"
            )
        point = self.profile.points[command.point]
        await self._write(command.point, point, command.value, "alarm reset", True)
        return (await self.read()).alarms or ()

    async def _write(
        self, name: str, point: CracPoint, raw: float, what: str, requested: object
    ) -> None:
        """Encode and write one point; an exception reply becomes a CracCommandError."""
        if point.integer:
            number = round(raw)
            low, high = _INT_RANGE[point.type]
            if not low <= number <= high:
                raise self._error(f"{what}: {number} does not fit {name} ({point.type})")
            registers = encode(number, point.type, point.word_order)
        else:
            registers = encode(raw, point.type, point.word_order)
        try:
            await self.link.write(self.unit_id, point.address, registers)
        except ModbusExceptionError as exc:
            meaning = MODBUS_EXCEPTIONS.get(exc.code, "unknown exception")
            held: float | None = None
            with contextlib.suppress(DeviceError):
                held = await self.read_point(name)
            raise self._error(
                f"unit refused {what}: exception {exc.code} ({meaning}); "
                f"{name} still reads {show(held, point.unit)}{await self._why()}",
                requested=requested,
                read_back=held,
            ) from exc
