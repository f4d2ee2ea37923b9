"""Shelf load cells over Modbus: weights in grams per cell, tare, zero, calibration.

The driver reads what the profile maps (raw grams per cell, stability and
overload bits) and applies the host-side two-point calibration stored per
cell in the site's configuration: ``grams = (raw - zero_raw_g) * gain``.
Calibration lives on the host, not in the controller, so swapping a broken
controller does not lose it and the file is reviewable.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from devices.base import PolledDevice
from devices.bus import Message
from devices.errors import DeviceCommandError, DeviceError, DeviceProtocolError
from devices.modbus.link import ModbusExceptionError, ModbusLink
from devices.modbus.registers import (
    PlanDecoder,
    RegisterImage,
    RegisterSpan,
    Table,
    block_bytes,
    decode,
    plan_reads,
)
from devices.profiles import Point, ScaleProfile

_FLAG_CACHE_SIZE = 4096
"""Distinct bit-field values remembered per flag (a 10-cell mask has 1,024)."""


@dataclass(frozen=True, slots=True)
class CellCalibration:
    """Linear correction of one load cell: ``grams = (raw - zero_raw_g) * gain``."""

    zero_raw_g: float = 0.0
    gain: float = 1.0

    def apply(self, raw_g: float) -> float:
        """Calibrated grams for a raw reading."""
        return (raw_g - self.zero_raw_g) * self.gain

    @classmethod
    def from_two_points(
        cls, zero_raw_g: float, span_raw_g: float, known_g: float
    ) -> CellCalibration:
        """Calibration from an empty reading and a reading with ``known_g`` on the cell."""
        if known_g <= 0:
            raise ValueError("the known weight must be > 0 g")
        delta = span_raw_g - zero_raw_g
        if abs(delta) < known_g * 0.05:
            raise ValueError(
                f"the cell moved {delta:.1f} g raw for {known_g:.1f} g: is the weight on this cell?"
            )
        return cls(zero_raw_g=zero_raw_g, gain=known_g / delta)


@dataclass(frozen=True, slots=True)
class ScaleReading:
    """One reading of a controller's cells (raw, before host calibration)."""

    device_id: str
    t_mono: float
    cells: tuple[int, ...]
    raw_g: tuple[float, ...]
    stable: tuple[bool, ...]
    overload: tuple[bool, ...]

    def cell(self, index: int) -> tuple[float, bool]:
        """Raw grams and stability of cell ``index``."""
        pos = self.cells.index(index)
        return self.raw_g[pos], self.stable[pos]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShelfWeights(Message):
    """Calibrated weights of one shelf's cells (telemetry: the newest matters most)."""

    durable: ClassVar[bool] = False
    shelf_id: str
    weights_g: tuple[float, ...]
    stable: tuple[bool, ...]
    overload: tuple[bool, ...]

    @property
    def total_g(self) -> float:
        """Sum over the shelf's cells."""
        return math.fsum(self.weights_g)

    @property
    def all_stable(self) -> bool:
        """Every cell reports no motion."""
        return all(self.stable)


def shelf_weights(
    reading: ScaleReading,
    shelf_id: str,
    cells: Sequence[int],
    calibrations: Mapping[int, CellCalibration],
) -> ShelfWeights:
    """The part of ``reading`` that belongs to one shelf, calibrated."""
    pos = [reading.cells.index(c) for c in cells]
    default = CellCalibration()
    return ShelfWeights(
        source=reading.device_id,
        t_mono=reading.t_mono,
        shelf_id=shelf_id,
        weights_g=tuple(
            calibrations.get(c, default).apply(reading.raw_g[p])
            for c, p in zip(cells, pos, strict=True)
        ),
        stable=tuple(reading.stable[p] for p in pos),
        overload=tuple(reading.overload[p] for p in pos),
    )


class ShelfView:
    """One shelf's part of a controller's readings, worked out once for the polling path.

    ``shelf_weights`` does the same for a single reading; a view keeps the cell
    positions and calibrations so each poll only slices and scales.
    """

    def __init__(
        self,
        shelf_id: str,
        device_cells: Sequence[int],
        cells: Sequence[int],
        calibrations: Mapping[int, CellCalibration],
    ) -> None:
        device_cells = tuple(device_cells)
        missing = [c for c in cells if c not in device_cells]
        if missing:
            raise ValueError(f"shelf {shelf_id}: cells {missing} are not read by the device")
        self.shelf_id = shelf_id
        self._positions = tuple(device_cells.index(c) for c in cells)
        self._whole = self._positions == tuple(range(len(device_cells)))
        default = CellCalibration()
        self._calibrations = tuple(calibrations.get(c, default) for c in cells)
        self._identity = all(cal == default for cal in self._calibrations)

    def __call__(self, reading: ScaleReading) -> ShelfWeights:
        """The shelf's calibrated weights and flags from one reading of its controller."""
        if self._whole:
            raw, stable, overload = reading.raw_g, reading.stable, reading.overload
        else:
            pos = self._positions
            raw = tuple(reading.raw_g[p] for p in pos)
            stable = tuple(reading.stable[p] for p in pos)
            overload = tuple(reading.overload[p] for p in pos)
        weights = (
            raw
            if self._identity
            else tuple(cal.apply(g) for cal, g in zip(self._calibrations, raw, strict=True))
        )
        return ShelfWeights(
            source=reading.device_id,
            t_mono=reading.t_mono,
            shelf_id=self.shelf_id,
            weights_g=weights,
            stable=stable,
            overload=overload,
        )


class ModbusScale(PolledDevice[ScaleReading]):
    """A load-cell controller on a Modbus link, read through its profile.

    The link may be shared with other units (an RS-485 line, a TCP gateway):
    the scale never closes it; whoever built the link does.
    """

    def __init__(
        self,
        device_id: str,
        link: ModbusLink,
        unit_id: int,
        profile: ScaleProfile,
        cells: Sequence[int],
    ) -> None:
        super().__init__(device_id)
        if not cells:
            raise ValueError(f"{device_id}: no cells to read")
        bad = [c for c in cells if not 0 <= c < profile.max_cells]
        if bad:
            raise ValueError(
                f"{device_id}: cells {bad} outside 0..{profile.max_cells - 1} of {profile.name}"
            )
        self.link = link
        self.unit_id = unit_id
        self.profile = profile
        self.cells = tuple(sorted(set(cells)))
        self.blocks = plan_reads(
            profile.weight_spans(list(self.cells)), max_gap=profile.max_read_gap
        )
        weight = profile.points["weight"]
        self._weight_scale = weight.scale
        # One decoder for every value a poll needs: the cells' weights, then each
        # flag's bit-field register, in that order.
        self._flag_index = {name: len(self.cells) + i for i, name in enumerate(profile.flags)}
        self._decoder = PlanDecoder(
            self.blocks,
            [(weight.span(c), weight.type, weight.word_order) for c in self.cells]
            + [
                (
                    profile.points[f.point].span(),
                    profile.points[f.point].type,
                    profile.points[f.point].word_order,
                )
                for f in profile.flags.values()
            ],
        )
        # Bit-field value -> per-cell flags; masks repeat poll after poll.
        self._flag_cache: dict[str, dict[int, tuple[bool, ...]]] = {n: {} for n in profile.flags}

    @property
    def address(self) -> str:
        """Link address and unit id, for messages."""
        return f"{self.link.address} unit {self.unit_id}"

    async def connect(self) -> None:
        """Open the shared link if it is not open yet."""
        await self.link.ensure_connected()

    async def close(self) -> None:
        """Nothing of the scale's own to release: the link belongs to its owner."""

    async def read(self) -> ScaleReading:
        """Read every configured cell in as few transactions as the profile allows."""
        buffers: list[bytes] = []
        first_sent = last_received = 0.0
        for n, block in enumerate(self.blocks):
            registers, timing = await self.link.read(
                self.unit_id, block.table, block.address, block.count
            )
            buffers.append(block_bytes(registers))
            if n == 0:
                first_sent = timing.sent_s
            last_received = timing.received_s
        values = self._decoder.decode(buffers)
        count = len(self.cells)
        scale = self._weight_scale
        raw = values[:count] if scale == 1.0 else tuple(v * scale for v in values[:count])
        if not math.isfinite(sum(raw)):  # one cheap test per poll; the detail only on failure
            bad = [c for c, v in zip(self.cells, raw, strict=True) if not math.isfinite(v)]
            if bad:
                raise DeviceProtocolError(
                    f"cells {bad} report a non-finite weight",
                    device=self.device_id,
                    address=self.address,
                    expected="a finite number",
                )
        return ScaleReading(
            device_id=self.device_id,
            t_mono=(first_sent + last_received) / 2,
            cells=self.cells,
            raw_g=raw,
            stable=self._flags(values, "stable"),
            overload=self._flags(values, "overload"),
        )

    def _flags(self, values: tuple[float, ...], name: str) -> tuple[bool, ...]:
        """One flag for every cell, from its bit-field register (decoded once per mask value)."""
        index = self._flag_index.get(name)
        if index is None:
            return (False,) * len(self.cells)
        bits = int(values[index])
        cache = self._flag_cache[name]
        flags = cache.get(bits)
        if flags is None:
            flag = self.profile.flags[name]
            flags = tuple(
                bool((bits >> (flag.bit + (c if flag.per_cell else 0))) & 1) != flag.active_low
                for c in self.cells
            )
            if len(cache) < _FLAG_CACHE_SIZE:
                cache[bits] = flags
        return flags

    def _value(self, image: RegisterImage, point: Point, cell: int = 0) -> float:
        span = point.span(cell)
        return (
            decode(image.get(span.table, span.address, span.count), point.type, point.word_order)
            * point.scale
        )

    async def read_points(self) -> tuple[dict[str, float | list[float]], RegisterImage]:
        """Every point of the profile, one read each (for probe and dump, not polling)."""
        image = RegisterImage()
        values: dict[str, float | list[float]] = {}
        for name, point in self.profile.points.items():
            cells = range(self.profile.max_cells) if point.cell_stride else range(1)
            per_cell: list[float] = []
            for cell in cells:
                span = point.span(cell)
                regs, _ = await self.link.read(self.unit_id, span.table, span.address, span.count)
                image.store(plan_reads([span])[0], regs)
                per_cell.append(self._value(image, point, cell))
            values[name] = per_cell if point.cell_stride else per_cell[0]
        return values, image

    async def dump_registers(self) -> RegisterImage:
        """Every register the profile names: points, the identify register, command registers.

        Command registers that the device refuses to read back are left out
        rather than failing the dump.
        """
        _, image = await self.read_points()
        spans = [
            RegisterSpan(
                self.profile.identify.table,
                self.profile.identify.address,
                self.profile.identify.type.width,
            )
        ]
        for command in self.profile.commands.values():
            spans += [RegisterSpan(Table.HOLDING, w.address, len(w.values)) for w in command.writes]
        for block in plan_reads(spans):
            try:
                regs, _ = await self.link.read(
                    self.unit_id, block.table, block.address, block.count
                )
            except ModbusExceptionError:
                continue
            image.store(block, regs)
        return image

    async def command(self, name: str, cells: Sequence[int]) -> None:
        """Run a profile command (``tare``, ``zero``) on ``cells`` and wait for it to settle."""
        command = self.profile.commands.get(name)
        if command is None:
            raise DeviceCommandError(
                f"profile {self.profile.name} has no {name!r} command", device=self.device_id
            )
        mask = sum(1 << c for c in cells)
        for write in command.writes:
            values = [mask if v == "cell_mask" else int(v) for v in write.values]
            await self.link.write(self.unit_id, write.address, values)
        await asyncio.sleep(command.settle_s)
        if command.verify_zero_g is not None:
            await self._verify_zero(name, cells, command.verify_zero_g)

    async def _verify_zero(self, name: str, cells: Sequence[int], tolerance_g: float) -> None:
        """Read back after tare/zero: a device may acknowledge a write it then refuses."""
        reading = await self.read()
        off = {c: reading.cell(c)[0] for c in cells if abs(reading.cell(c)[0]) > tolerance_g}
        if not off:
            return
        shown = ", ".join(f"cell {c}: {g:.1f} g" for c, g in off.items())
        reason = "the load is outside the device's zero range" if name == "zero" else "not applied"
        raise DeviceCommandError(
            f"{name} refused: {reason} (still reads {shown})",
            device=self.device_id,
            address=self.address,
        )

    async def sample_cell(self, cell: int) -> float:
        """Average raw grams of ``cell`` over the profile's calibration samples.

        Only stable readings count; fails if the spread of the samples is
        wider than the profile allows (someone is touching the shelf) or no
        stable samples arrive in time.
        """
        procedure = self.profile.calibration
        samples: list[float] = []
        deadline = time.monotonic() + procedure.timeout_s
        while len(samples) < procedure.samples:
            if time.monotonic() > deadline:
                raise DeviceError(
                    f"cell {cell} did not give {procedure.samples} stable readings in "
                    f"{procedure.timeout_s:.0f} s (got {len(samples)})",
                    device=self.device_id,
                )
            raw, stable = (await self.read()).cell(cell)
            if stable:
                samples.append(raw)
            else:
                samples.clear()
            await asyncio.sleep(0.05)
        spread = max(samples) - min(samples)
        if spread > procedure.max_spread_g:
            raise DeviceError(
                f"cell {cell} moved {spread:.1f} g while sampling (max {procedure.max_spread_g} g)",
                device=self.device_id,
            )
        return statistics.fmean(samples)
