"""Modbus register maps of the two simulated CRAC models, written from their manuals' tables.

``pcw1`` (downflow DX unit, 2 compressors, reheat, humidifier; return air control)

    input registers (FC4), int16/uint16 x0.1 unless said otherwise:
      0 model code 0x50C1 | 1 firmware 0x0220 | 2 return air temperature (int16 x0.1 °C,
      0x8000 = sensor fault) | 3 return air humidity (uint16 x0.1 %RH) | 4 supply air
      temperature (int16 x0.1 °C) | 5 fan speed (uint16 x0.1 %) | 6 cooling demand (uint16 %)
      | 7 status word | 8 outputs word | 9 alarm word 1 | 10 alarm word 2
      | 11..12 compressor 1 run hours (uint32, high word first) | 13..14 compressor 2 run hours
    holding registers (FC3 read, FC6/FC16 write):
      100 remote on/off (0 off, 1 on) | 101 return air setpoint (int16 x0.1 °C)
      | 102 supply air setpoint | 103 humidity setpoint (uint16 x0.1 %RH)
      | 104 high return temperature alarm | 105 low return temperature alarm
      | 106 control mode (0 return air, 1 supply air) | 107 alarm reset (write 1; reads 0)

``irc2`` (in-row cooler, 1 variable-speed compressor, supply air control)

    holding registers only, float32 with the LOW word first (CDAB):
      0..1 inlet (supply) air temperature °C | 2..3 return air temperature °C
      | 4..5 humidity %RH | 6..7 fan speed % | 8..9 inlet air setpoint °C (write both
      registers in one FC16) | 10..11 alarm bits (uint32, low word first) | 12 status word
      | 13 model code 0x1C02 | 20 operating mode (0 standby, 2 run)

Bits are listed in :data:`PCW1_BITS` / :data:`IRC2_BITS`. Reads of addresses
outside the map answer exception 2; a write to a read-only or unknown address
answers exception 2, a value the unit does not accept exception 3, and a
remote write while the unit is in local mode exception 1 (the unit is in the
wrong state for it) -- or, with ``refusal = ignore``, the write is
acknowledged and dropped.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sim_devices.crac.model import CommandRefused, ControlMode, CracModel, Refusal
from sim_devices.modbus_pdu import ExceptionCode, ModbusError, Table
from sim_devices.register_codec import float32_words, uint32_words

RegType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Order = Literal["big", "little"]
Value = float | int | None


@dataclass(frozen=True)
class Reg:
    """One row of a manual's register table."""

    name: str
    table: Table
    address: int
    type: RegType
    scale: float = 1.0
    word_order: Order = "big"
    writable: bool = False

    @property
    def width(self) -> int:
        """Registers the value occupies."""
        return 1 if self.type in ("int16", "uint16") else 2


H, IN = Table.HOLDING, Table.INPUT

PCW1_MODEL_CODE = 0x50C1
PCW1_FIRMWARE = 0x0220
PCW1_REGISTERS = (
    Reg("model_code", IN, 0, "uint16"),
    Reg("firmware", IN, 1, "uint16"),
    Reg("return_air_temp", IN, 2, "int16", 0.1),
    Reg("return_humidity", IN, 3, "uint16", 0.1),
    Reg("supply_air_temp", IN, 4, "int16", 0.1),
    Reg("fan_speed", IN, 5, "uint16", 0.1),
    Reg("cooling_demand", IN, 6, "uint16"),
    Reg("status", IN, 7, "uint16"),
    Reg("outputs", IN, 8, "uint16"),
    Reg("alarms_1", IN, 9, "uint16"),
    Reg("alarms_2", IN, 10, "uint16"),
    Reg("compressor_1_hours", IN, 11, "uint32"),
    Reg("compressor_2_hours", IN, 13, "uint32"),
    Reg("unit_on_off", H, 100, "uint16", writable=True),
    Reg("return_setpoint", H, 101, "int16", 0.1, writable=True),
    Reg("supply_setpoint", H, 102, "int16", 0.1, writable=True),
    Reg("humidity_setpoint", H, 103, "uint16", 0.1, writable=True),
    Reg("high_return_temp_limit", H, 104, "int16", 0.1, writable=True),
    Reg("low_return_temp_limit", H, 105, "int16", 0.1, writable=True),
    Reg("control_mode", H, 106, "uint16", writable=True),
    Reg("alarm_reset", H, 107, "uint16", writable=True),
)
PCW1_BITS: dict[str, dict[int, str]] = {
    "status": {
        0: "unit_running",
        1: "cooling",
        2: "heating",
        3: "humidifying",
        4: "fan_running",
        5: "local_mode",
        6: "common_alarm",
        7: "remote_off",
    },
    "outputs": {
        0: "compressor_1",
        1: "compressor_2",
        2: "heater_1",
        3: "heater_2",
        4: "humidifier",
    },
    "alarms_1": {
        0: "high_return_temp",
        1: "low_return_temp",
        2: "high_humidity",
        3: "low_humidity",
        4: "high_supply_temp",
        5: "compressor_1_failure",
        6: "compressor_2_failure",
        7: "fan_failure",
        8: "filter_clogged",
        9: "water_leak",
        10: "power_failure",
        11: "humidifier_failure",
        12: "heater_overheat",
    },
    "alarms_2": {
        0: "return_sensor_failure",
        1: "humidity_sensor_failure",
        2: "supply_sensor_failure",
    },
}

IRC2_MODEL_CODE = 0x1C02
IRC2_RUN = 2
IRC2_STANDBY = 0
IRC2_REGISTERS = (
    Reg("inlet_air_temp", H, 0, "float32", word_order="little"),
    Reg("return_air_temp", H, 2, "float32", word_order="little"),
    Reg("humidity", H, 4, "float32", word_order="little"),
    Reg("fan_speed", H, 6, "float32", word_order="little"),
    Reg("inlet_setpoint", H, 8, "float32", word_order="little", writable=True),
    Reg("alarms", H, 10, "uint32", word_order="little"),
    Reg("status", H, 12, "uint16"),
    Reg("model_code", H, 13, "uint16"),
    Reg("operating_mode", H, 20, "uint16", writable=True),
)
IRC2_BITS: dict[str, dict[int, str]] = {
    "status": {0: "running", 1: "compressor", 2: "local_mode"},
    "alarms": {
        0: "high_inlet_temp",
        1: "low_inlet_temp",
        2: "high_humidity",
        3: "low_humidity",
        4: "compressor_failure",
        5: "fan_failure",
        8: "water_leak",
        16: "power_failure",
        17: "filter_clogged",
        18: "return_sensor_failure",
    },
}

_SENSOR_FAULT = {"int16": -0x8000, "uint16": 0xFFFF, "int32": -(2**31), "uint32": 0xFFFFFFFF}
_RANGES = {
    "int16": (-0x8000, 0x7FFF),
    "uint16": (0, 0xFFFF),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 0xFFFFFFFF),
}


def encode(reg: Reg, value: Value) -> list[int]:
    """Registers for ``value`` (engineering units); None is the type's sensor-fault code."""
    if reg.type == "float32":
        return float32_words(math.nan if value is None else float(value), reg.word_order)
    if value is None:
        raw = _SENSOR_FAULT[reg.type]
    else:
        low, high = _RANGES[reg.type]
        raw = max(low, min(high, round(value / reg.scale)))
    if reg.type in ("int16", "uint16"):
        return [raw & 0xFFFF]
    return uint32_words(raw & 0xFFFFFFFF, reg.word_order)


def decode(reg: Reg, words: Sequence[int]) -> float:
    """Engineering value of the registers a master wrote."""
    if reg.width == 1:
        raw = words[0] - 0x10000 if reg.type == "int16" and words[0] & 0x8000 else words[0]
        return raw * reg.scale
    high, low = (words[0], words[1]) if reg.word_order == "big" else (words[1], words[0])
    packed = struct.pack(">HH", high, low)
    fmt = {"int32": ">i", "uint32": ">I", "float32": ">f"}[reg.type]
    number: float = struct.unpack(fmt, packed)[0]
    return number * reg.scale


def bits(names: Mapping[int, str], active: set[str] | frozenset[str]) -> int:
    """A bit word with the bits whose names are in ``active``."""
    return sum(1 << bit for bit, name in names.items() if name in active)


class RegisterFace:
    """A CRAC model seen through one vendor's register map (a Modbus unit for the servers).

    Subclasses give the table, the values of each named register and what a
    write of each writable register does; reading, writing, addressing and
    refusing are common.
    """

    model = ""
    registers: tuple[Reg, ...] = ()

    def __init__(self, crac: CracModel) -> None:
        self.crac = crac
        self._by_table: dict[Table, dict[int, tuple[Reg, int]]] = {H: {}, IN: {}}
        for reg in self.registers:
            for offset in range(reg.width):
                self._by_table[reg.table][reg.address + offset] = (reg, offset)
        self.writes_refused = 0
        self.writes_ignored = 0

    def values(self) -> dict[str, Value]:
        """Engineering value of every register, by register name."""
        raise NotImplementedError

    def apply(self, reg: Reg, value: float) -> None:
        """Carry out a remote write of ``value`` to ``reg`` on the model."""
        raise NotImplementedError

    def image(self) -> dict[Table, dict[int, int]]:
        """Every register's raw value, per table (what a master would read now)."""
        values = self.values()
        out: dict[Table, dict[int, int]] = {H: {}, IN: {}}
        for reg in self.registers:
            for offset, word in enumerate(encode(reg, values[reg.name])):
                out[reg.table][reg.address + offset] = word
        return out

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """FC3/FC4: every register asked must exist, else exception 2."""
        defined = self._by_table[table]
        wanted = range(address, address + count)
        if any(a not in defined for a in wanted):
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{table} {address}..{address + count - 1}"
            )
        image = self.image()[table]
        return [image[a] for a in wanted]

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """FC6/FC16 on holding registers: whole values only, all addresses checked first."""
        defined = self._by_table[H]
        writes: list[tuple[Reg, float]] = []
        index = 0
        while index < len(values):
            entry = defined.get(address + index)
            if entry is None or not entry[0].writable:
                raise ModbusError(
                    ExceptionCode.ILLEGAL_DATA_ADDRESS, f"holding {address + index} is not writable"
                )
            reg, offset = entry
            if offset != 0 or index + reg.width > len(values):
                raise ModbusError(
                    ExceptionCode.ILLEGAL_DATA_VALUE, f"{reg.name} needs all {reg.width} registers"
                )
            writes.append((reg, decode(reg, values[index : index + reg.width])))
            index += reg.width
        if self.crac.local_lock:
            self._refuse(CommandRefused("local", "remote write in local mode"))
            return
        for reg, value in writes:
            try:
                self.apply(reg, value)
            except CommandRefused as exc:
                self._refuse(exc)
                return

    def _refuse(self, exc: CommandRefused) -> None:
        if self.crac.refusal is Refusal.IGNORE:
            self.writes_ignored += 1
            return
        self.writes_refused += 1
        code = (
            ExceptionCode.ILLEGAL_FUNCTION
            if exc.reason == "local"
            else ExceptionCode.ILLEGAL_DATA_VALUE
        )
        raise ModbusError(code, str(exc))


def _switch(value: float, *, on: int, off: int, what: str) -> bool:
    if value == on:
        return True
    if value == off:
        return False
    raise CommandRefused("range", f"{what}: {value:g} is neither {off} nor {on}")


class Pcw1Registers(RegisterFace):
    """The ``pcw1`` register map over a :class:`CracModel`."""

    model = "pcw1"
    registers = PCW1_REGISTERS

    def __init__(self, crac: CracModel, *, firmware: int = PCW1_FIRMWARE) -> None:
        if crac.params.compressors > 2 or crac.params.heater_stages > 2:
            raise ValueError("pcw1 has at most 2 compressors and 2 heater stages")
        super().__init__(crac)
        self.firmware = firmware

    def values(self) -> dict[str, Value]:
        """Register values from the model's state."""
        crac = self.crac
        compressors = crac.compressors_on
        heater = crac.heater_stages_on
        alarms = crac.alarms
        status = {
            "unit_running": crac.running,
            "cooling": any(compressors),
            "heating": heater > 0,
            "humidifying": crac.humidifier_on,
            "fan_running": crac.fan_pct > 0,
            "local_mode": crac.local_lock,
            "common_alarm": bool(alarms),
            "remote_off": not crac.unit_on,
        }
        outputs = {f"compressor_{i + 1}": on for i, on in enumerate(compressors)}
        outputs |= {f"heater_{i + 1}": i < heater for i in range(2)}
        outputs["humidifier"] = crac.humidifier_on
        hours = [crac.compressor_hours(i) for i in range(len(compressors))]
        hours += [0.0] * (2 - len(hours))
        return {
            "model_code": PCW1_MODEL_CODE,
            "firmware": self.firmware,
            "return_air_temp": crac.return_air_c,
            "return_humidity": crac.humidity_pct,
            "supply_air_temp": crac.supply_air_c,
            "fan_speed": crac.fan_pct,
            "cooling_demand": crac.cooling_demand_pct,
            "status": bits(PCW1_BITS["status"], {k for k, v in status.items() if v}),
            "outputs": bits(PCW1_BITS["outputs"], {k for k, v in outputs.items() if v}),
            "alarms_1": bits(PCW1_BITS["alarms_1"], alarms),
            "alarms_2": bits(PCW1_BITS["alarms_2"], alarms),
            "compressor_1_hours": math.floor(hours[0]),
            "compressor_2_hours": math.floor(hours[1]),
            "unit_on_off": int(crac.unit_on),
            "return_setpoint": crac.return_setpoint_c,
            "supply_setpoint": crac.supply_setpoint_c,
            "humidity_setpoint": crac.humidity_setpoint_pct,
            "high_return_temp_limit": crac.high_return_limit_c,
            "low_return_temp_limit": crac.low_return_limit_c,
            "control_mode": 1 if crac.control_mode is ControlMode.SUPPLY else 0,
            "alarm_reset": 0,
        }

    def apply(self, reg: Reg, value: float) -> None:
        """What each writable pcw1 register does."""
        crac = self.crac
        if reg.name == "unit_on_off":
            crac.set_unit_on(_switch(value, on=1, off=0, what="on/off"))
        elif reg.name == "return_setpoint":
            crac.set_return_setpoint(value)
        elif reg.name == "supply_setpoint":
            crac.set_supply_setpoint(value)
        elif reg.name == "humidity_setpoint":
            crac.set_humidity_setpoint(value)
        elif reg.name == "high_return_temp_limit":
            crac.set_return_limits(high_c=value)
        elif reg.name == "low_return_temp_limit":
            crac.set_return_limits(low_c=value)
        elif reg.name == "control_mode":
            supply = _switch(value, on=1, off=0, what="control mode")
            crac.set_control_mode(ControlMode.SUPPLY if supply else ControlMode.RETURN)
        elif reg.name == "alarm_reset":
            if value == 1:
                crac.reset_alarms()
            elif value != 0:
                raise CommandRefused("range", f"alarm reset: {value:g} is not 1")


class Irc2Registers(RegisterFace):
    """The ``irc2`` register map over a :class:`CracModel` (one compressor, no reheat)."""

    model = "irc2"
    registers = IRC2_REGISTERS

    def __init__(self, crac: CracModel) -> None:
        if crac.params.compressors != 1:
            raise ValueError("irc2 has exactly one compressor")
        super().__init__(crac)

    def values(self) -> dict[str, Value]:
        """Register values from the model's state."""
        crac = self.crac
        alarms = set(crac.alarms)
        renamed = {
            "high_supply_temp": "high_inlet_temp",
            "low_supply_temp": "low_inlet_temp",
            "compressor_1_failure": "compressor_failure",
        }
        alarms |= {new for old, new in renamed.items() if old in alarms}
        status = {
            "running": crac.running,
            "compressor": any(crac.compressors_on),
            "local_mode": crac.local_lock,
        }
        return {
            "inlet_air_temp": crac.supply_air_c,
            "return_air_temp": crac.return_air_c,
            "humidity": crac.humidity_pct,
            "fan_speed": crac.fan_pct,
            "inlet_setpoint": crac.supply_setpoint_c,
            "alarms": bits(IRC2_BITS["alarms"], alarms),
            "status": bits(IRC2_BITS["status"], {k for k, v in status.items() if v}),
            "model_code": IRC2_MODEL_CODE,
            "operating_mode": IRC2_RUN if crac.unit_on else IRC2_STANDBY,
        }

    def apply(self, reg: Reg, value: float) -> None:
        """What each writable irc2 register does."""
        if reg.name == "inlet_setpoint":
            self.crac.set_supply_setpoint(value)
        elif reg.name == "operating_mode":
            self.crac.set_unit_on(
                _switch(value, on=IRC2_RUN, off=IRC2_STANDBY, what="operating mode")
            )


MODELS: dict[str, type[RegisterFace]] = {"pcw1": Pcw1Registers, "irc2": Irc2Registers}
