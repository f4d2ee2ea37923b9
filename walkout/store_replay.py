"""The store simulator's sensor stream through the checkout engine, scored against its truth.

Accelerated replay: every simulator record becomes the message the real
store would put on the bus, in timestamp order, and the checkout runs on
those timestamps only (``tick`` at every ``tick_s`` of store time between
records), so an hour of a busy store goes through in seconds of CPU.

What the adapter does, and what it must not know:

- gate records become ``Admitted`` / ``Entered`` / ``Exited`` of the gate
  machine; the engine's session id is made from the credential (unique per
  session, as a card number is), and only the admit record's
  ``session_ref`` maps it back for scoring;
- weights go through ``ShelfChangeDetector`` per shelf, as in the runtime;
- shelf-camera records (scenarios with ``sensors.shelf_camera``) become
  sightings kept by a ``ShelfCameraHints``; the engine's product inference
  asks it when a take's products tie;
- tracks and anonymous exits get their sessions from
  :class:`~vision_core.tracking.sessions.TrackSessions`, the live runtime's
  code, never from the simulator's truth: a new track near the entry gate
  right after an entry is bound to it, a track that starts elsewhere (a
  tracker id switch mid-store) continues a bound track that ended where it
  started, and an exit is bound ``exit_delay_s`` after the passage to the
  bound track that ended at the exit gate. Its binder decides on the
  checkout's ticks, its timers at their due times.

Settle time is the store time at which the receipt came out of the
checkout (including the exit-binding delay), not the ``t_mono`` written on
the receipt. A session with an item in review has no receipt until a person
decides; it is scored with the lines its cart holds (the items in review
are not charged) and flagged ``review``.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devices.bus import Message
from devices.gate.machine import Admitted, Entered, Exited
from devices.scale import ShelfWeights
from sim_devices.store_sim import (
    GateRecord,
    ProducedEvent,
    ProducedReceipt,
    Record,
    Scores,
    ShelfCameraRecord,
    ShelfEventTruth,
    SimulationResult,
    StoreScenario,
    TrackRecord,
    WeightRecord,
    replay,
    score,
    write_report,
)
from vision_core.checkout.config import CheckoutSettings
from vision_core.checkout.engine import CheckoutEngine
from vision_core.checkout.messages import ForeignObject, ShelfChangeUnresolved
from vision_core.inference.attribution import FloorSample, ShelfLocation
from vision_core.inference.planogram import Planogram, parse_planogram
from vision_core.inference.products import ProductInferrer
from vision_core.inference.shelf_camera import ProductSighting, ShelfCameraHints
from vision_core.ledger.events import LineAdded, LinePutBack, ReceiptSettled, ReviewRequested
from vision_core.ledger.journal import Journal
from vision_core.ledger.ledger import Ledger
from vision_core.shelf_events import ShelfChangeDetector
from vision_core.tracking.binding import BindingSettings, EntryGate
from vision_core.tracking.sessions import TrackSessions, TrackSessionSettings

TOLERANCE_SIGMAS = 3.0
"""A facing's tolerance in the built planogram, in standard deviations of its unit weight.

The planogram treats a tolerance as a hard bound: at 3 sigma 0.3 % of real
units fall outside it (at 2 sigma, 5 % would be refused)."""

MIN_TOLERANCE_G = 1.0
"""The smallest per-unit tolerance (a SKU whose units all weigh the same still varies a little)."""


_SESSION_DEFAULTS = TrackSessionSettings()


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    """How the adapter drives the checkout; seconds and metres of store time and floor.

    ``binding`` to ``continue_radius_m``, and ``ended_slack_s``, are
    :class:`TrackSessionSettings`' fields (documented there, defaults from
    there), given to the track sessions as :attr:`sessions`.
    """

    checkout: CheckoutSettings = field(default_factory=CheckoutSettings)
    binding: BindingSettings = field(default_factory=BindingSettings)
    tick_s: float = 0.5
    exit_delay_s: float = _SESSION_DEFAULTS.exit_delay_s
    exit_radius_m: float = _SESSION_DEFAULTS.exit_radius_m
    exit_lookback_s: float = _SESSION_DEFAULTS.exit_lookback_s
    drain_s: float = 30.0
    """Store time run on after the last record, so waits and deadlines expire."""
    continue_tracks: bool = _SESSION_DEFAULTS.continue_tracks
    continue_radius_m: float = _SESSION_DEFAULTS.continue_radius_m
    ended_slack_s: float = _SESSION_DEFAULTS.ended_slack_s

    def __post_init__(self) -> None:
        for name in ("tick_s", "drain_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        _ = self.sessions  # TrackSessionSettings checks its own fields, with its errors

    @property
    def sessions(self) -> TrackSessionSettings:
        """The track-session fields, as :class:`TrackSessions` takes them."""
        return TrackSessionSettings(
            binding=self.binding,
            exit_delay_s=self.exit_delay_s,
            exit_radius_m=self.exit_radius_m,
            exit_lookback_s=self.exit_lookback_s,
            continue_tracks=self.continue_tracks,
            continue_radius_m=self.continue_radius_m,
            ended_slack_s=self.ended_slack_s,
        )


class Checkout(Protocol):
    """What the adapter drives: the engine, or a baseline with the same inputs and outputs."""

    def feed(self, message: Message) -> list[Message]: ...

    def tick(self, t_mono: float) -> list[Message]: ...

    def open_carts(self) -> dict[str, tuple[dict[str, int], bool]]:
        """Sessions without a receipt: {session_id: ({sku: units}, in review)}."""
        ...


# --- the store as the checkout sees it ---------------------------------------------------------


def scale_tolerance_g(scenario: StoreScenario, cells: int) -> float:
    """Three sigma of a change read as the difference of two single readings of every cell."""
    return 3.0 * scenario.sensors.scale.sigma_g * math.sqrt(2 * cells)


def planogram_of(scenario: StoreScenario) -> Planogram:
    """The planogram of the scenario's floor plan (what the store's planner would enter)."""
    shelves: dict[str, Any] = {}
    for shelf in scenario.floor.shelves:
        shelves[shelf.shelf_id] = {
            "length_m": shelf.length_m,
            "scale_tolerance_g": round(scale_tolerance_g(scenario, shelf.cells), 3),
            "facings": [
                {
                    "sku": p.sku,
                    "name": p.name,
                    "unit_weight_g": p.unit_weight_g,
                    "tolerance_g": max(TOLERANCE_SIGMAS * p.weight_sigma_g, MIN_TOLERANCE_G),
                    "span_m": list(p.span_m),
                    "price": str(p.price),
                }
                for p in shelf.products
            ],
        }
    return parse_planogram({"shelves": shelves}, f"scenario {scenario.name or '(unnamed)'}")


def shelf_locations(scenario: StoreScenario) -> dict[str, ShelfLocation]:
    """Each board's front edge: along +x from its corner (shoppers stand towards -y)."""
    return {
        s.shelf_id: ShelfLocation(s.shelf_id, (s.x_m, s.y_m), (s.x_m + s.length_m, s.y_m))
        for s in scenario.floor.shelves
    }


def camera_hints_of(scenario: StoreScenario, planogram: Planogram) -> ShelfCameraHints | None:
    """The store's shelf-camera hints, for the shelves the scenario has cameras over (or None)."""
    camera = scenario.sensors.shelf_camera
    if camera is None:
        return None
    return ShelfCameraHints.from_planogram(planogram, camera.shelves)


class EngineCheckout:
    """The checkout engine on a ledger it owns (closed by :meth:`close`).

    With shelf cameras in the scenario, :attr:`camera_hints` holds their
    sightings and the engine's product inference asks them on ties.
    """

    def __init__(
        self, scenario: StoreScenario, ledger_path: Path, settings: CheckoutSettings
    ) -> None:
        planogram = planogram_of(scenario)
        self.camera_hints = camera_hints_of(scenario, planogram)
        inferrer = (
            None
            if self.camera_hints is None
            else ProductInferrer(planogram, camera_hints=self.camera_hints.hints())
        )
        # replayed bills need no power-cut durability: fsync per money event would
        # measure the disk, not the checkout
        journal = Journal(ledger_path, money_synchronous="NORMAL")
        self.ledger = Ledger(journal, settings.settlement_policy())
        try:
            self.engine = CheckoutEngine(
                self.ledger,
                planogram,
                shelf_locations(scenario),
                settings,
                inferrer=inferrer,
                sightings=self.camera_hints,
            )
        except BaseException:
            self.ledger.close()
            raise

    def feed(self, message: Message) -> list[Message]:
        return self.engine.feed(message)

    def tick(self, t_mono: float) -> list[Message]:
        return self.engine.tick(t_mono)

    def open_carts(self) -> dict[str, tuple[dict[str, int], bool]]:
        out: dict[str, tuple[dict[str, int], bool]] = {}
        for session_id, session in self.ledger.state.sessions.items():
            lines: Counter[str] = Counter()
            for line in session.lines:
                lines[line.sku] += line.qty
            out[session_id] = (dict(lines), bool(session.in_review))
        return out

    def close(self) -> None:
        self.ledger.close()


# --- the adapter -------------------------------------------------------------------------------


@dataclass
class ReplayOutcome:
    """What came out of one replay, keyed by the simulator's session refs for scoring."""

    receipts: dict[str, ProducedReceipt]
    events: list[ProducedEvent]
    reviews: Counter[str]
    """Review requests by reason (numbers and ids stripped)."""
    notices: Counter[str]
    """``ForeignObject``, ``ShelfChangeUnresolved`` counts."""
    binding: Counter[str]
    """Track-binding decisions by kind, plus ``exit_unbound``."""
    unclosed: list[str]
    """Sessions the checkout never saw leave (an exit not bound to them)."""
    records: int
    cpu_s: float
    wall_s: float


_NUMBERS = re.compile(r"[-+]?\d+(\.\d+)?( g)?|\b[\w-]+@[\d.e+-]+|\btrk-\d+\b|\bcard-\d+\b")


def reason_key(reason: str) -> str:
    """A review reason with its numbers and ids taken out, so reasons can be counted."""
    return _NUMBERS.sub("#", reason.split(":")[0] if ": " in reason else reason).strip()


class StoreReplay:
    """Feeds one run's records to a checkout in time order; collects what it settles.

    Shelf-camera records go to ``camera_hints`` (by default an
    :class:`EngineCheckout`'s own); with none, they are dropped, as for a
    checkout that has no camera path.
    """

    def __init__(
        self,
        scenario: StoreScenario,
        checkout: Checkout,
        settings: ReplaySettings | None = None,
        *,
        camera_hints: ShelfCameraHints | None = None,
    ) -> None:
        self.scenario = scenario
        self.checkout = checkout
        self.settings = settings or ReplaySettings()
        if camera_hints is None and isinstance(checkout, EngineCheckout):
            camera_hints = checkout.camera_hints
        self.camera_hints = camera_hints
        floor = scenario.floor
        self._sessions = TrackSessions(
            [EntryGate(floor.entry.gate_id, (floor.entry.x_m, floor.entry.y_m))],
            {floor.exit.gate_id: (floor.exit.x_m, floor.exit.y_m)},
            self.settings.sessions,
        )
        self._detectors = {
            s.shelf_id: ShelfChangeDetector(s.shelf_id, s.length_m) for s in floor.shelves
        }
        self._session_of_credential: dict[str, str] = {}
        self._ref_of_session: dict[str, str] = {}
        self._next_tick: float | None = None
        self.now = -math.inf
        self.receipts: dict[str, ProducedReceipt] = {}
        self.events: list[ProducedEvent] = []
        self.reviews: Counter[str] = Counter()
        self.notices: Counter[str] = Counter()
        # binding decisions by kind, continuations and exit_unbound: the sessions' own counter
        self.binding: Counter[str] = self._sessions.counts

    # --- time ----------------------------------------------------------------------------------

    def _advance_to(self, t: float) -> None:
        """Run every tick and session decision due up to store time ``t``, in time order.

        The binder decides on the ticks only; an exit or continuation decision
        runs at its own due time, before a tick at that same time.
        """
        if self._next_tick is None:
            self._next_tick = t
        while True:
            due = self._sessions.next_due()
            if min(due, self._next_tick) > t:
                break
            if due <= self._next_tick:
                self.now = max(self.now, due)
                self._publish(self._sessions.advance(due, bind=False))
            else:
                self.now = max(self.now, self._next_tick)
                self._publish(self._sessions.advance(self._next_tick))
                self._collect(self.checkout.tick(self._next_tick))
                self._next_tick += self.settings.tick_s
        self.now = max(self.now, t)

    def _publish(self, messages: Iterable[Message]) -> None:
        """Feed the track sessions' messages to the checkout, in order."""
        for message in messages:
            self._collect(self.checkout.feed(message))
            if isinstance(message, Exited):
                # the receipt may be due already (settle_after_s counts from the passage):
                # look now rather than at the next tick
                self._collect(self.checkout.tick(self.now))

    # --- records -------------------------------------------------------------------------------

    def feed(self, record: Record) -> None:
        """One simulator record, after everything due before its time."""
        self._advance_to(record.t)
        if isinstance(record, TrackRecord):
            self._on_track(record)
        elif isinstance(record, WeightRecord):
            self._on_weight(record)
        elif isinstance(record, ShelfCameraRecord):
            self._on_sighting(record)
        else:
            self._on_gate(record)

    def finish(self) -> None:
        """Let store time run ``drain_s`` past the last record (waits and deadlines expire)."""
        if self._next_tick is not None:
            self._advance_to(self.now + self.settings.drain_s)

    def feed_gate_message(
        self, message: Admitted | Entered | Exited, session_ref: str | None = None
    ) -> None:
        """A gate machine's own message (hardware in the loop), after everything due before it.

        ``session_ref`` is the simulator's session an ``Admitted`` is for: the
        machine names sessions itself, so only the caller (who presented the
        credential) can map them back for scoring.
        """
        self._advance_to(message.t_mono)
        self._gate_message(message, session_ref)

    def _gate_message(self, message: Admitted | Entered | Exited, session_ref: str | None) -> None:
        """What the checkout and the track sessions do with a gate message, however it came."""
        if isinstance(message, Exited):
            self._collect(self.checkout.feed(message))
            self._publish(self._sessions.exited(message))
            return
        if isinstance(message, Admitted) and session_ref is not None:
            self._ref_of_session[message.session_id] = session_ref
        elif isinstance(message, Entered):
            self._sessions.entered(message)
        self._collect(self.checkout.feed(message))

    def _on_gate(self, record: GateRecord) -> None:
        gate = record.gate_id
        if record.kind == "exit":
            self._gate_message(Exited(source=gate, t_mono=record.t), None)
            return
        credential = record.credential or ""
        if record.kind == "admit":
            session_id = f"sess-{credential}"
            self._session_of_credential[credential] = session_id
            admitted = Admitted(
                source=gate,
                t_mono=record.t,
                session_id=session_id,
                credential=credential,
                group_size=record.group_size,
                latency_s=0.0,
            )
            self._gate_message(admitted, record.session_ref)
            return
        entered = Entered(
            source=gate,
            t_mono=record.t,
            session_id=self._session_of_credential[credential],
            credential=credential,
            person=record.person,
            group_size=record.group_size,
        )
        self._gate_message(entered, None)

    def feed_weights(self, weights: ShelfWeights) -> None:
        """One shelf's reading, from a record or from the real scales (hardware in the loop).

        Store time moves to the reading's ``t_mono`` first, so the checkout sees
        the ticks and binding decisions due before it.
        """
        self._advance_to(weights.t_mono)
        for change in self._detectors[weights.shelf_id].feed(weights):
            self._collect(self.checkout.feed(change))

    def _on_weight(self, record: WeightRecord) -> None:
        self.feed_weights(
            ShelfWeights(
                source=f"scale-{record.shelf_id}",
                t_mono=record.t,
                shelf_id=record.shelf_id,
                weights_g=record.cells_g,
                stable=record.stable,
                overload=(False,) * len(record.cells_g),
            )
        )

    def _on_sighting(self, record: ShelfCameraRecord) -> None:
        if self.camera_hints is not None and record.shelf_id in self.camera_hints.shelves:
            self.camera_hints.add(
                ProductSighting(
                    record.shelf_id, record.t, record.sku, record.confidence, record.kind
                )
            )

    def _on_track(self, record: TrackRecord) -> None:
        sample = FloorSample(record.t, record.body_xy, record.hands_xy)
        self._publish(self._sessions.sample(record.track_id, sample, record.appearance))

    def feed_track_sample(
        self, track_id: str, sample: FloorSample, appearance: tuple[float, ...] = ()
    ) -> None:
        """A shopper track's sample from the runtime's own vision path (cameras in the loop).

        Store time moves to the sample's ``t_mono`` first, as for a reading.
        """
        self._advance_to(sample.t_mono)
        self._publish(self._sessions.sample(track_id, sample, appearance))

    # --- outputs -------------------------------------------------------------------------------

    def _collect(self, outputs: Iterable[Message]) -> None:
        for message in outputs:
            if isinstance(message, ReceiptSettled):
                ref = self._ref_of_session.get(message.session_id, message.session_id)
                lines: Counter[str] = Counter()
                for line in message.lines:
                    lines[line.sku] += line.qty
                self.receipts[ref] = ProducedReceipt(ref, dict(lines), False, self.now)
            elif isinstance(message, LineAdded | LinePutBack):
                ref = self._ref_of_session.get(message.session_id, message.session_id)
                self.events.append(
                    ProducedEvent(
                        ref,
                        "take" if isinstance(message, LineAdded) else "put",
                        message.sku,
                        message.qty,
                        message.t_mono,
                    )
                )
            elif isinstance(message, ReviewRequested):
                self.reviews[reason_key(message.reason)] += 1
            elif isinstance(message, ForeignObject | ShelfChangeUnresolved):
                self.notices[type(message).__name__] += 1

    def outcome(self, *, records: int, cpu_s: float, wall_s: float) -> ReplayOutcome:
        """What came out, receipts still open included (the checkout must still be open)."""
        reviewed, unclosed = self.unsettled()
        return ReplayOutcome(
            receipts={**self.receipts, **reviewed},
            events=self.events,
            reviews=self.reviews,
            notices=self.notices,
            binding=self.binding,
            unclosed=unclosed,
            records=records,
            cpu_s=cpu_s,
            wall_s=wall_s,
        )

    def unsettled(self) -> tuple[dict[str, ProducedReceipt], list[str]]:
        """Receipts still open at the end: in review (scored, flagged), or never closed."""
        reviewed: dict[str, ProducedReceipt] = {}
        unclosed: list[str] = []
        for session_id, (lines, in_review) in self.checkout.open_carts().items():
            ref = self._ref_of_session.get(session_id, session_id)
            if in_review:
                reviewed[ref] = ProducedReceipt(ref, lines, True, None)
            else:
                unclosed.append(ref)
        return reviewed, sorted(unclosed)


def run_checkout(
    run: SimulationResult,
    checkout: Checkout,
    *,
    settings: ReplaySettings | None = None,
    until_t: float | None = None,
) -> ReplayOutcome:
    """Replay ``run`` (up to ``until_t``) through ``checkout``; CPU and wall time of that path."""
    adapter = StoreReplay(run.scenario, checkout, settings)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    count = 0
    for record in replay(run.records, until_t=until_t):
        adapter.feed(record)
        count += 1
    adapter.finish()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return adapter.outcome(records=count, cpu_s=cpu_s, wall_s=wall_s)


# --- why receipts are wrong --------------------------------------------------------------------


def event_breakdown(
    true_events: Sequence[ShelfEventTruth],
    produced: Sequence[ProducedEvent],
    *,
    tolerance_s: float = 5.0,
) -> Counter[str]:
    """Each true take/put's fate in units, and produced units that match nothing (``extra``).

    Fates: ``ok``, ``wrong_qty``, ``wrong_shopper``, ``wrong_sku``, ``missed``.

    Matching is greedy, earliest first, like the event metrics: same kind and
    SKU within ``tolerance_s`` in the true session, else in another session
    (wrong shopper), else any SKU of that kind in the true session (wrong SKU).
    """
    unused = sorted(produced, key=lambda e: e.t)
    taken: set[int] = set()
    out: Counter[str] = Counter()

    def find(event: ShelfEventTruth, level: str) -> ProducedEvent | None:
        for index, made in enumerate(unused):
            if index in taken or abs(made.t - event.t) > tolerance_s or made.kind != event.kind:
                continue
            same_session = made.session_ref == event.session_ref
            same_sku = made.sku == event.sku
            fits = {
                "same": same_session and same_sku,
                "shopper": same_sku,
                "sku": same_session,
            }[level]
            if fits:
                taken.add(index)
                return made
        return None

    for event in sorted(true_events, key=lambda e: e.t):
        same = find(event, "same")
        if same is not None:
            out["ok" if same.qty == event.qty else "wrong_qty"] += event.qty
        elif find(event, "shopper") is not None:
            out["wrong_shopper"] += event.qty
        elif find(event, "sku") is not None:
            out["wrong_sku"] += event.qty
        else:
            out["missed"] += event.qty
    extra = sum(m.qty for i, m in enumerate(unused) if i not in taken)
    if extra:
        out["extra"] = extra
    return out


# --- one scenario, end to end ------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """A scored replay of one scenario (``until_t``: only sessions that left before it)."""

    name: str
    scores: Scores
    outcome: ReplayOutcome
    breakdown: Counter[str]
    sessions_per_s: float
    simulate_s: float


def score_outcome(
    run: SimulationResult, outcome: ReplayOutcome, *, until_t: float | None = None
) -> tuple[Scores, Counter[str]]:
    """Scores and event breakdown of the sessions whose last member left before ``until_t``."""
    sessions = [s for s in run.truth.sessions if until_t is None or s.exit_t < until_t]
    refs = {s.session_ref for s in sessions}
    true_events = [e for e in run.truth.events if e.session_ref in refs]
    produced = [e for e in outcome.events if e.session_ref in refs]
    scores = score(
        sessions,
        outcome.receipts,
        true_events=true_events,
        produced_events=produced,
        shoppers=sum(s.group_size for s in sessions),
        cpu_s=outcome.cpu_s,
    )
    return scores, event_breakdown(true_events, produced)


def replay_scenario(
    run: SimulationResult,
    workdir: Path,
    *,
    settings: ReplaySettings | None = None,
    until_t: float | None = None,
    checkout_factory: Callable[[StoreScenario, Path], Checkout] | None = None,
    simulate_s: float = 0.0,
) -> ScenarioResult:
    """Replay ``run`` through the checkout engine (or ``checkout_factory``'s) and score it."""
    settings = settings or ReplaySettings()
    workdir.mkdir(parents=True, exist_ok=True)
    ledger_path = workdir / "ledger.sqlite"
    for stale in workdir.glob("ledger.sqlite*"):
        stale.unlink()
    if checkout_factory is None:
        engine = EngineCheckout(run.scenario, ledger_path, settings.checkout)
        try:
            outcome = run_checkout(run, engine, settings=settings, until_t=until_t)
        finally:
            engine.close()
    else:
        checkout = checkout_factory(run.scenario, ledger_path)
        outcome = run_checkout(run, checkout, settings=settings, until_t=until_t)
    scores, breakdown = score_outcome(run, outcome, until_t=until_t)
    rate = scores.sessions / outcome.wall_s if outcome.wall_s > 0 else math.inf
    return ScenarioResult(run.scenario.name, scores, outcome, breakdown, rate, simulate_s)


TARGETS: dict[str, tuple[str, float]] = {
    "receipt_accuracy": (">=", 0.999),
    "review_rate": ("<=", 0.005),
    "event_precision": (">=", 0.9995),
    "event_recall": (">=", 0.9995),
    "latency_p95_s": ("<=", 1.0),
}
"""The targets for busy scenarios (item precision/recall are the event metrics)."""


def target_notes(scores: Scores) -> list[str]:
    """One line per target: the target, what was measured, met or not."""
    lines = []
    for key, (op, target) in TARGETS.items():
        value = getattr(scores, key)
        if value is None:
            lines.append(f"{key}: target {op} {target:g}, not measured")
            continue
        met = value >= target if op == ">=" else value <= target
        lines.append(
            f"{key}: target {op} {target:g}, measured {value:.4g} ({'met' if met else 'NOT met'})"
        )
    return lines


def write_replay_report(
    directory: Path, result: ScenarioResult, run: SimulationResult, notes: Sequence[str] = ()
) -> Path:
    """The simulator's Markdown report (metrics, definitions, plots) plus targets and causes."""
    outcome = result.outcome
    lines = [
        *target_notes(result.scores),
        f"records replayed: {outcome.records}; engine-path CPU {outcome.cpu_s:.2f} s, "
        f"wall {outcome.wall_s:.2f} s; {result.sessions_per_s:.1f} sessions/s",
        "true take/put units by fate: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.breakdown.items())),
        "reviews by reason: "
        + (", ".join(f"{k} x{v}" for k, v in outcome.reviews.most_common()) or "none"),
        "notices: " + (", ".join(f"{k} x{v}" for k, v in outcome.notices.items()) or "none"),
        "track binding: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.binding.items())),
        f"sessions never closed (exit not bound to them): {len(outcome.unclosed)}",
        "latency is store time from the last member's exit to the receipt leaving the "
        "checkout (includes the exit-binding delay and settle_after_s); compute time of "
        "the accelerated replay is not in it",
        *notes,
    ]
    return write_report(
        directory,
        result.scores,
        title=f"Checkout replay: {result.name}",
        truth=run.truth,
        notes=lines,
    )
