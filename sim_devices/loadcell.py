"""Physical model of one shelf: N load cells under one board.

Everything is evaluated lazily from a clock at read time (no background
sampling task), so a store of 100 controllers x 10 cells costs nothing while
nobody polls it. All weights are grams; positions are metres from the left
end of the shelf; times are seconds of the injected monotonic clock.

What a cell reports (``raw``) before the device's own zero/tare::

    raw = true * (1 + gain_error) + offset_g + drift + settling + noise

``gain_error``/``offset_g`` are what a host-side two-point calibration must
remove; ``drift`` grows linearly from start-up; ``settling`` is a damped
sinusoid started by every load change; ``noise`` is Gaussian per reading from
a seeded generator so runs are reproducible.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Clock = Callable[[], float]

_NEGLIGIBLE_G = 1e-3
"""Settling terms whose envelope is below this are dropped at read time."""


@dataclass(frozen=True)
class ShelfParams:
    """Configuration of one shelf's cells; defaults give a quiet, ideal shelf.

    ``settle_ratio`` is the initial swing of the oscillation as a fraction of
    a cell's load change (0.3: a 500 g item first overshoots by 150 g);
    ``settle_freq_hz`` and ``settle_tau_s`` (exp(-t/tau) envelope) describe a
    shelf board ringing on its cells. ``motion_band_g`` is the weighing
    indicator's motion detection band; ``None`` means max(3 sigma, 2 g).
    ``zero_range_fraction`` is the +-fraction of ``capacity_g`` within which a
    device accepts a zero command.
    """

    cells: int = 4
    length_m: float = 1.0
    dead_load_g: float = 0.0
    capacity_g: float = 20000.0
    sigma_g: float = 0.5
    drift_g_per_h: float = 0.0
    gain_errors: tuple[float, ...] = ()
    offsets_g: tuple[float, ...] = ()
    seed: int = 0
    settle_ratio: float = 0.3
    settle_freq_hz: float = 2.5
    settle_tau_s: float = 0.35
    motion_band_g: float | None = None
    zero_range_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError(f"cells must be >= 1, got {self.cells}")
        if self.length_m < 0:
            raise ValueError(f"length_m must be >= 0, got {self.length_m}")
        for name in ("capacity_g", "settle_tau_s", "settle_freq_hz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.sigma_g < 0:
            raise ValueError(f"sigma_g must be >= 0, got {self.sigma_g}")
        for name in ("gain_errors", "offsets_g"):
            values = getattr(self, name)
            if values and len(values) != self.cells:
                raise ValueError(f"{name} has {len(values)} values for {self.cells} cells")

    @property
    def band_g(self) -> float:
        """Motion band actually used for the stable flag."""
        if self.motion_band_g is not None:
            return self.motion_band_g
        return max(3.0 * self.sigma_g, 2.0)


@dataclass(frozen=True)
class Item:
    """Something on the shelf; ``take_g`` removals are items of negative weight."""

    item_id: int
    weight_g: float
    position_m: float
    label: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON form for the control API."""
        return {
            "item": self.item_id,
            "weight_g": self.weight_g,
            "position_m": self.position_m,
            "label": self.label,
        }


@dataclass(frozen=True)
class ShelfReading:
    """One evaluation of every cell, as the device would report it.

    ``weights_g`` are after the device's zero and tare (net); ``stable`` is the
    motion detector; ``overload`` is set when the cell's raw reading (before
    zero/tare, the load the cell physically carries) exceeds ``capacity_g``.
    """

    weights_g: tuple[float, ...]
    stable: tuple[bool, ...]
    overload: tuple[bool, ...]


@dataclass
class _Ringing:
    """One settling oscillation on one cell: amplitude in grams, start time."""

    start_s: float
    amplitude_g: float


@dataclass
class _Cell:
    gain_error: float
    offset_g: float
    ringing: list[_Ringing] = field(default_factory=list)
    zero_g: float = 0.0
    tare_g: float = 0.0


class ShelfLoadModel:
    """Ground truth and device view of one shelf's load cells.

    Cell i sits at ``i * length_m / (cells - 1)``; a load between two cells is
    shared by the lever rule, a load beyond either end rests on the end cell.
    """

    def __init__(self, params: ShelfParams, clock: Clock | None = None) -> None:
        self.params = params
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._t0 = self._clock()
        self._rng = random.Random(params.seed)
        gains = params.gain_errors or (0.0,) * params.cells
        offsets = params.offsets_g or (0.0,) * params.cells
        self._cells = [_Cell(g, o) for g, o in zip(gains, offsets, strict=True)]
        self._items: dict[int, Item] = {}
        self._next_id = 1
        self._loads: list[float] | None = None  # cache of true_loads(), reset on change

    # ground truth -----------------------------------------------------------

    @property
    def cells(self) -> int:
        """Number of load cells under the board."""
        return self.params.cells

    def split(self, weight_g: float, position_m: float) -> list[float]:
        """Share of ``weight_g`` at ``position_m`` carried by each cell (lever rule)."""
        n = self.params.cells
        shares = [0.0] * n
        if n == 1:
            shares[0] = weight_g
            return shares
        length = self.params.length_m
        if length <= 0 or position_m <= 0:
            shares[0] = weight_g
            return shares
        if position_m >= length:
            shares[-1] = weight_g
            return shares
        pitch = length / (n - 1)
        index = min(int(position_m // pitch), n - 2)
        fraction = (position_m - index * pitch) / pitch
        shares[index] = weight_g * (1.0 - fraction)
        shares[index + 1] = weight_g * fraction
        return shares

    def true_loads(self) -> list[float]:
        """Grams each cell carries: dead load plus items, no device errors."""
        if self._loads is None:
            n = self.params.cells
            loads = [self.params.dead_load_g / n] * n
            for item in self._items.values():
                for i, share in enumerate(self.split(item.weight_g, item.position_m)):
                    loads[i] += share
            self._loads = loads
        return list(self._loads)

    def items(self) -> list[Item]:
        """Items on the shelf in the order they were put."""
        return list(self._items.values())

    # changes ----------------------------------------------------------------

    def put(
        self, weight_g: float, position_m: float, label: str | None = None, *, settled: bool = False
    ) -> int:
        """Place an item; returns its id.

        Starts settling on the affected cells unless ``settled`` (items a
        scenario puts on the shelf before start-up have long stopped ringing).
        """
        if not math.isfinite(weight_g) or not math.isfinite(position_m):
            raise ValueError("weight_g and position_m must be finite")
        item = Item(self._next_id, float(weight_g), float(position_m), label)
        self._next_id += 1
        self._items[item.item_id] = item
        self._loads = None
        if not settled:
            self._ring(self.split(item.weight_g, item.position_m))
        log.debug("put %s", item)
        return item.item_id

    def take(self, ref: int | str | tuple[float, float]) -> Item:
        """Remove an item by id, by label (oldest first) or by (weight_g, position_m).

        The (weight, position) form matches within 0.5 g and 1 cm, the
        precision a person typing a command means. Raises KeyError if
        nothing matches.
        """
        item = self._find(ref)
        del self._items[item.item_id]
        self._loads = None
        self._ring([-share for share in self.split(item.weight_g, item.position_m)])
        log.debug("take %s", item)
        return item

    def take_g(self, weight_g: float, position_m: float) -> int:
        """Remove ``weight_g`` at ``position_m`` without matching an item (bulk goods).

        Recorded as an item of negative weight so the ground truth stays a sum
        of items; returns its id.
        """
        return self.put(-abs(weight_g), position_m, label="take_g")

    def _find(self, ref: int | str | tuple[float, float]) -> Item:
        if isinstance(ref, bool):
            raise KeyError(f"no item {ref!r}")
        if isinstance(ref, int):
            if ref in self._items:
                return self._items[ref]
            raise KeyError(f"no item with id {ref}")
        if isinstance(ref, str):
            for item in self._items.values():
                if item.label == ref:
                    return item
            raise KeyError(f"no item labelled {ref!r}")
        weight_g, position_m = ref
        for item in self._items.values():
            if abs(item.weight_g - weight_g) <= 0.5 and abs(item.position_m - position_m) <= 0.01:
                return item
        raise KeyError(f"no item of {weight_g} g at {position_m} m")

    def _ring(self, deltas: Sequence[float]) -> None:
        now = self._clock()
        for cell, delta in zip(self._cells, deltas, strict=True):
            if delta:
                amplitude = self.params.settle_ratio * delta * (1.0 + cell.gain_error)
                cell.ringing.append(_Ringing(now, amplitude))

    # device view --------------------------------------------------------------

    def _settling(self, cell: _Cell, now: float) -> tuple[float, float]:
        """(current oscillation, remaining envelope) of one cell, pruning old terms."""
        tau = self.params.settle_tau_s
        omega = 2.0 * math.pi * self.params.settle_freq_hz
        value = envelope = 0.0
        alive: list[_Ringing] = []
        for term in cell.ringing:
            dt = max(0.0, now - term.start_s)
            decay = math.exp(-dt / tau)
            size = abs(term.amplitude_g) * decay
            if size < _NEGLIGIBLE_G:
                continue
            alive.append(term)
            value += term.amplitude_g * decay * math.cos(omega * dt)
            envelope += size
        cell.ringing = alive
        return value, envelope

    def _raw_means(self, now: float) -> list[tuple[float, float]]:
        """Noise-free raw reading and settling envelope of each cell at ``now``."""
        drift = self.params.drift_g_per_h * (now - self._t0) / 3600.0
        result = []
        for cell, load in zip(self._cells, self.true_loads(), strict=True):
            swing, envelope = self._settling(cell, now)
            raw = load * (1.0 + cell.gain_error) + cell.offset_g + drift + swing
            result.append((raw, envelope))
        return result

    def read(self) -> ShelfReading:
        """Evaluate every cell now; draws one noise sample per cell."""
        sigma = self.params.sigma_g
        band = self.params.band_g
        weights, stable, overload = [], [], []
        for cell, (raw_mean, envelope) in zip(
            self._cells, self._raw_means(self._clock()), strict=True
        ):
            raw = raw_mean + (self._rng.gauss(0.0, sigma) if sigma > 0 else 0.0)
            weights.append(raw - cell.zero_g - cell.tare_g)
            stable.append(envelope <= band)
            overload.append(raw > self.params.capacity_g)
        return ShelfReading(tuple(weights), tuple(stable), tuple(overload))

    def zero(self, mask: int) -> list[int]:
        """Zero the cells in ``mask``; returns the cells that refused.

        The device takes the noise-free reading (it averages internally) as
        its new zero and clears the tare. A cell refuses when that reading,
        measured from the factory calibration, lies beyond
        +-``zero_range_fraction`` of ``capacity_g`` (a loaded shelf must not
        be zeroed away).
        """
        limit = self.params.zero_range_fraction * self.params.capacity_g
        refused = []
        for i, (raw_mean, _) in enumerate(self._raw_means(self._clock())):
            if not mask >> i & 1:
                continue
            if abs(raw_mean) > limit:
                refused.append(i)
                continue
            self._cells[i].zero_g = raw_mean
            self._cells[i].tare_g = 0.0
        if refused:
            log.info("zero refused on cells %s (beyond +-%.0f g)", refused, limit)
        return refused

    def tare(self, mask: int) -> None:
        """Tare the cells in ``mask``: the current (noise-free) reading becomes net 0."""
        for i, (raw_mean, _) in enumerate(self._raw_means(self._clock())):
            if mask >> i & 1:
                self._cells[i].tare_g = raw_mean - self._cells[i].zero_g
