"""The checkout engine: gate, shelf and track messages in; ledger events and notices out.

Inputs (``CheckoutEngine.feed``; anything else is a :class:`CheckoutInputError`):

- gate events (``devices.gate.machine``): ``Admitted`` opens a session,
  ``Entered`` adds a member (``"<session_id>/<person>"``), ``Exited`` with a
  ``session_id`` counts one of its people out (the session closes when all
  have left); mapped by :func:`vision_core.ledger.ledger.from_gate`. Other
  gate events, and an ``Exited`` with no session, change nothing (``[]``):
  binding an anonymous exit to a session is the tracker's job.
- ``ShelfChange`` (``vision_core.shelf_events``): a take or a put on one
  shelf. Its shelf must have a :class:`ShelfLocation`; a take's shelf must be
  in the planogram. Its item id is ``"<shelf_id>@<t_mono!r>"``: the same
  change fed twice is handled once (also across a restart on the same ledger).
- ``TrackSample`` (``vision_core.checkout.messages``): one
  ``FloorSample`` of one shopper track, in time order per track, with the
  track's session binding (None while unbound) and member name.
- ``TrackRelabelled``: a track's latest samples were somebody else's
  (re-identification found a swap): they move to the new track id, and
  undecided items are looked at again.
- ledger events given directly (operators: ``ReviewResolved``,
  ``SessionClosed``): recorded as they are.

``tick(t_mono)`` lets store time pass without a message: undecided items
are looked at again, those past ``wait_s`` decided or sent to review, and
the ledger settles or sends to review what its deadline says.

Outputs (both methods return them in order; the service publishes them):
every ledger event recorded (``SessionOpened``, ``MemberJoined``,
``MemberExited``, ``LineAdded``, ``LinePutBack``, ``AttributionPending``,
``AttributionResolved``, ``ReviewRequested``, ``ReceiptSettled`` ...), and
the notices ``ForeignObject``, ``ShelfChangeUnresolved`` and ``ShelfDwell``.

Store time is the largest ``t_mono`` seen (in a message or a tick), never
the wall clock: a recorded or simulated day replays through the same code
as fast as it can be fed.

How a shelf change is decided (never by a guess):

- take: products come from the planogram (``ProductInferrer``), the hand
  from the tracks (``attribute``). ``confident``/``session`` adds one
  ``LineAdded`` per SKU (evidence: the item id, then the tracks); unknown
  or tied products on a decided session go to that session's review. A tie
  between sessions, an unbound contender or nobody near waits, blocking the
  contenders' receipts with ``AttributionPending``, and is looked at again
  on every tick and every track sample that could change it (one that
  beats its track's best score for the event, or binds a track to a
  session); at ``wait_s`` it
  goes to review of every session involved (``ShelfChangeUnresolved`` when
  no session is).
- put: matched by weight against the carts of the shoppers near it
  (``match_putback``), whatever shelf it lands on. The attributed session's
  cart if it explains the weight, else the only cart that does, else the
  one whose units and hand make the weight far likelier (``likeliest_cart``);
  several carts still tied wait, then review; no cart at ``wait_s`` is a
  ``ForeignObject``.

A take that several hands made is split between them by the load cells
when everything agrees (:mod:`vision_core.checkout.merged`): each mover's
share goes on its own bill, with line ids ``take:<item>:<track>:<sku>``.
The split wins over a confident attribution when it finds movers of
several sessions (the hand nearest the change's centre of gravity would
be charged both items), and decides a tie or a change nobody was near.
Every take of more than one unit is tried, even one the detector found to
be one lift: two hands lifting within a scale sample swing as one. A change
whose cells moved both ways is first read as one hand's put-back and
another's take (``split_mixed``), each on its own bill.

A take's line keeps what the scale weighed (``LineAdded.weighed_g``) when
the change was of one SKU: a put-back of that unit weighs the same, which
tells it from another SKU of a like weight in the cart.

How near a hand must be is the store's own figure: the engine scores hands
with the width that its sure cases show (one hand alone at a one-hand
change, :mod:`vision_core.inference.hand_spread`) once it has enough of
them, and with ``attribution.hand_sigma_m`` until then. The learnt width is
memory only: after a restart the configured one holds until it is learnt
again, which changes no decision already in the ledger.

Line ids follow the change: ``take:<item>:<sku>``, ``putback:<item>:<sku>``,
``pending:<item>:<session>``, ``resolved:<item>:<session>``. Lines are
written before the resolution that unblocks a receipt, so a receipt never
misses the line it waited for.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

from devices.bus import Message
from devices.gate.machine import MACHINE_EVENTS
from vision_core.checkout.config import CheckoutSettings
from vision_core.checkout.dwell import DwellDetector
from vision_core.checkout.merged import (
    HandShare,
    MixedShares,
    PutShare,
    split_mixed,
    split_put,
    split_take,
)
from vision_core.checkout.messages import (
    ForeignObject,
    ShelfChangeUnresolved,
    TrackRelabelled,
    TrackSample,
)
from vision_core.inference.attribution import (
    Attribution,
    Decision,
    ShelfLocation,
    ShopperTrack,
    TrackScore,
    attribute,
    score_track,
)
from vision_core.inference.hand_spread import HandSpreadLearner
from vision_core.inference.planogram import Planogram, PlanogramError
from vision_core.inference.products import ProductInference, ProductInferrer
from vision_core.inference.putback import (
    CartMatch,
    CartUnit,
    NearbyCart,
    likeliest_cart,
    match_putback,
    unit_priors,
    weighed_units,
)
from vision_core.inference.shelf_camera import ShelfCameraHints
from vision_core.ledger.carts import Session
from vision_core.ledger.events import (
    AttributionPending,
    AttributionResolved,
    LedgerEvent,
    LineAdded,
    LinePutBack,
    ReceiptSettled,
    ReviewRequested,
)
from vision_core.ledger.ledger import Ledger, LedgerRejected, from_gate
from vision_core.ledger.settlement import review_event_id
from vision_core.shelf_events import ShelfChange

_LOGGER = logging.getLogger(__name__)

_Split = TypeVar("_Split")
"""What a split of a change between hands gives (``split_put``, ``split_mixed``)."""

SOURCE = "checkout"


class CheckoutInputError(ValueError):
    """A message the engine cannot use (unknown shelf, samples out of order, wrong type)."""


def item_id_of(change: ShelfChange) -> str:
    """The id of a shelf change: its shelf and the time it settled (a redelivery has the same)."""
    return f"{change.shelf_id}@{change.t_mono!r}"


def split_by_member(receipt: ReceiptSettled) -> dict[str, Decimal]:
    """What each member's own takes came to, for a group that splits its one bill."""
    out: dict[str, Decimal] = {}
    for line in receipt.lines:
        out[line.member] = out.get(line.member, Decimal(0)) + line.amount
    return out


@dataclass(slots=True)
class _Item:
    """A shelf change not decided yet; ``blocked``: sessions holding its ``AttributionPending``."""

    item_id: str
    change: ShelfChange
    products: ProductInference | None
    deadline_mono: float
    blocked: list[str] = field(default_factory=list)
    best_score: dict[str, float] = field(default_factory=dict)  # per track, at the last look

    @property
    def one_hand(self) -> bool:
        """Whether one hand made the change: one lift, a put, or a take of a single unit.

        Such a change is attributed at its onset; a take of several units that
        the detector did not find to be one lift may be several shoppers'
        (see :mod:`vision_core.inference.attribution`).
        """
        if self.change.kind == "put" or self.change.one_lift:
            return True
        return self.products is not None and sum(q for _, q in self.products.items) == 1


class CheckoutEngine:
    """Pure and synchronous: every answer follows from the messages fed, in order.

    The ledger must be open for writing and use ``settings.settlement_policy()``
    (checked). Carts live in the ledger, so a restarted engine on a reopened
    ledger sees every open cart (put-backs still match them); items that were
    undecided at the crash stay pending there and go to review at the
    settlement deadline (their track evidence was in memory only).
    """

    def __init__(
        self,
        ledger: Ledger,
        planogram: Planogram,
        shelves: Mapping[str, ShelfLocation],
        settings: CheckoutSettings | None = None,
        *,
        inferrer: ProductInferrer | None = None,
        sightings: ShelfCameraHints | None = None,
    ) -> None:
        self.settings = settings or CheckoutSettings()
        if ledger.policy.review_after_s != self.settings.settle_deadline_s:
            raise ValueError(
                f"ledger reviews {ledger.policy.review_after_s:g} s after close but "
                f"settle_deadline_s is {self.settings.settle_deadline_s:g} s: open the "
                "ledger with settings.settlement_policy()"
            )
        for key, shelf in shelves.items():
            if key != shelf.shelf_id:
                raise ValueError(f"shelves[{key!r}] is the location of shelf {shelf.shelf_id!r}")
        self.ledger = ledger
        self.planogram = planogram
        self.shelves = dict(shelves)
        self.inferrer = inferrer or ProductInferrer(planogram)
        self.sightings = sightings  # shelf cameras: what they saw put down weighs put-backs
        self._configured = self.settings.attribution_settings
        self._attribution = self._configured  # the hand width may be learnt: see _learn_hand_spread
        self._hand_spread = (
            HandSpreadLearner(self._attribution.hand_sigma_m)
            if self.settings.learn_hand_sigma
            else None
        )
        catalog = planogram.catalog()
        self._tolerances_g = {sku: f.unit_tolerance_g for sku, f in catalog.items()}
        self._catalog = catalog
        # a unit weighed at its take is known to its scale's error; the largest bounds them all
        self._weighing_tolerance_g = max(
            (plan.scale_tolerance_g for plan in planogram.shelves.values()), default=0.0
        )
        self._dwell = DwellDetector(
            self.shelves, dwell_s=self.settings.dwell_s, radius_m=self.settings.dwell_radius_m
        )
        self._tracks: dict[str, ShopperTrack] = {}
        self._members: dict[str, str] = {}
        self._undecided: dict[str, _Item] = {}
        self._seen: set[str] = set()
        self.now_mono = float("-inf")
        self._restore()

    # --- restore --------------------------------------------------------------------------------

    def _restore(self) -> None:
        """Remember every shelf change the journal already has, so a redelivery is a no-op."""
        for entry in self.ledger.journal.replay():
            event = entry.event
            if isinstance(event, LineAdded | LinePutBack) and event.source == SOURCE:
                self._seen.add(event.evidence[0])
            elif isinstance(event, AttributionPending | ReviewRequested):
                self._seen.add(event.item_id)

    # --- inputs ---------------------------------------------------------------------------------

    @property
    def undecided(self) -> tuple[str, ...]:
        """Item ids still waiting for evidence, oldest first."""
        return tuple(self._undecided)

    def feed(self, message: Message) -> list[Message]:
        """Take one message; returns what it made happen, in order."""
        if isinstance(message, TrackSample):
            out = self._on_sample(message)
        elif isinstance(message, TrackRelabelled):
            out = self._on_relabel(message)
        elif isinstance(message, ShelfChange):
            out = self._on_change(message)
        elif isinstance(message, LedgerEvent):
            self._advance(message.t_mono)
            out = list(self.ledger.apply(message))
        elif isinstance(message, MACHINE_EVENTS):
            self._advance(message.t_mono)
            out = self._on_gate(message)
        else:
            raise CheckoutInputError(
                f"the checkout engine does not take {type(message).__name__} messages"
            )
        return out + self._sweep_reviewed()

    def tick(self, t_mono: float) -> list[Message]:
        """Let store time pass to ``t_mono`` (an earlier time changes nothing)."""
        self._advance(t_mono)
        out: list[Message] = []
        for item in sorted(self._undecided.values(), key=lambda i: i.deadline_mono):
            if item.item_id in self._undecided:
                out.extend(self._evaluate(item))
        out.extend(self.ledger.tick(self.now_mono))
        out.extend(self._sweep_reviewed())
        self._prune_tracks()
        return out

    def _advance(self, t_mono: float) -> None:
        self.now_mono = max(self.now_mono, t_mono)

    def _on_gate(self, message: Message) -> list[Message]:
        """A gate event as its ledger event; one the ledger refuses is logged, not raised.

        The gate is right that somebody passed: an exit bound late to a session
        that has settled already (a second member's passage bound to the
        wrong group) must not stop the checkout for everyone else.
        """
        event = from_gate(message, self.settings.currency)
        if event is None:
            return []
        try:
            return list(self.ledger.apply(event))
        except LedgerRejected as exc:
            _LOGGER.warning("checkout: gate event not recorded: %s", exc)
            return []

    def _on_sample(self, message: TrackSample) -> list[Message]:
        sample = message.sample
        if sample.t_mono != message.t_mono:
            raise CheckoutInputError(
                f"track {message.track_id}: message t_mono {message.t_mono} differs from "
                f"its sample's {sample.t_mono}"
            )
        self._advance(message.t_mono)
        track = self._tracks.get(message.track_id)
        if track is None:
            track = ShopperTrack(message.track_id, message.session_id)
            self._tracks[message.track_id] = track
        rebound = message.session_id is not None and message.session_id != track.session_id
        try:
            track.append(sample)
        except ValueError as exc:
            raise CheckoutInputError(str(exc)) from exc
        if message.session_id is not None:
            track.session_id = message.session_id
        if message.member is not None:
            self._members[message.track_id] = message.member
        out: list[Message] = []
        dwell = self._dwell.feed(message.track_id, track.session_id, sample)
        if dwell is not None:
            out.append(dwell)
        alone = ShopperTrack(track.track_id, track.session_id, (sample,))
        for item in list(self._undecided.values()):
            if item.item_id in self._undecided and (rebound or self._raises(item, alone)):
                out.extend(self._evaluate(item))
        return out

    def _on_relabel(self, message: TrackRelabelled) -> list[Message]:
        self._advance(message.t_mono)
        old = self._tracks.get(message.track_id)
        moved = [] if old is None else old.take_from(message.since_mono)
        if message.new_track_id in self._tracks:
            raise CheckoutInputError(
                f"track {message.track_id} relabelled to {message.new_track_id}, "
                "which has samples already"
            )
        self._tracks[message.new_track_id] = ShopperTrack(
            message.new_track_id, message.session_id, moved
        )
        if not moved:
            return []
        out: list[Message] = []
        for item in list(self._undecided.values()):
            if item.item_id in self._undecided:
                out.extend(self._evaluate(item))
        return out

    def _raises(self, item: _Item, alone: ShopperTrack) -> bool:
        """Whether a one-sample track beats its track's best score for ``item``.

        A decision depends on each track's best sample only, so a sample
        that does not beat it cannot change the decision: skipping it keeps
        a shopper standing at a shelf from re-deciding on every frame.
        """
        change = item.change
        score = score_track(
            alone,
            self.shelves[change.shelf_id],
            change,
            self._attribution,
            at_onset=item.one_hand,
        )
        return score is not None and score.score > item.best_score.get(alone.track_id, 0.0)

    def _on_change(self, change: ShelfChange) -> list[Message]:
        item_id = item_id_of(change)
        if change.shelf_id not in self.shelves:
            raise CheckoutInputError(f"{item_id}: shelf {change.shelf_id!r} has no floor location")
        if item_id in self._seen:
            _LOGGER.debug("checkout: %s seen before, ignored", item_id)
            return []
        products: ProductInference | None = None
        if change.kind == "take":
            try:
                products = self.inferrer.infer(change)
            except PlanogramError as exc:
                raise CheckoutInputError(f"{item_id}: {exc}") from exc
        self._advance(change.t_mono)
        self._seen.add(item_id)
        item = _Item(item_id, change, products, change.t_mono + self.settings.wait_s)
        self._undecided[item_id] = item
        return self._evaluate(item)

    # --- deciding -------------------------------------------------------------------------------

    def _evaluate(self, item: _Item) -> list[Message]:
        """Decide ``item`` if the evidence allows; else make it wait (or send it to review)."""
        reviewed = [sid for sid in item.blocked if self._in_review(sid, item.item_id)]
        if reviewed:
            return self._review(item, [], "sent to review at the settlement deadline")
        change = item.change
        attribution = attribute(
            change,
            self.shelves[change.shelf_id],
            self._tracks.values(),
            now_mono=self.now_mono,
            settings=self._attribution,
            at_onset=item.one_hand,
        )
        item.best_score = {c.track_id: c.score for c in attribution.candidates}
        final = self.now_mono >= item.deadline_mono
        if (mixed := self._split_mixed(item)) is not None:
            return self._decide_mixed(item, mixed)
        if change.kind == "take":
            out = self._decide_take(item, attribution, final)
        else:
            out = self._decide_put(item, attribution, final)
        if item.item_id not in self._undecided and item.one_hand:
            self._learn_hand_spread(change)
        return out

    def _learn_hand_spread(self, change: ShelfChange) -> None:
        """A decided one-hand change may be a sure case: learn the hand width from it.

        Scored with the configured width, so what counts as sure does not
        depend on what was learnt.
        """
        if self._hand_spread is None:
            return
        configured = attribute(
            change,
            self.shelves[change.shelf_id],
            self._tracks.values(),
            now_mono=self.now_mono,
            settings=self._configured,
            at_onset=True,
        )
        if not self._hand_spread.observe(configured.candidates):
            return
        width = self._hand_spread.hand_sigma_m
        if width != self._attribution.hand_sigma_m:
            self._attribution = replace(self._attribution, hand_sigma_m=width)
        if self._hand_spread.cases == self._hand_spread.need:
            _LOGGER.info(
                "checkout: hands are scored with a width of %.3f m from now on (configured "
                "%.3f m), learnt from %d sure cases",
                width,
                self._configured.hand_sigma_m,
                self._hand_spread.cases,
            )

    @property
    def hand_sigma_m(self) -> float:
        """The hand width attribution scores with now (learnt, or the configured one)."""
        return self._attribution.hand_sigma_m

    def _decide_take(self, item: _Item, attribution: Attribution, final: bool) -> list[Message]:
        clear = attribution.decision in (Decision.CONFIDENT, Decision.SESSION)
        # a clear single unit cannot be two hands' take: skip the split (most takes)
        shares = None
        single = item.products is not None and sum(q for _, q in item.products.items) == 1
        if not (clear and single):
            shares = split_take(
                item.change,
                self.shelves[item.change.shelf_id],
                self._tracks.values(),
                planogram=self.planogram,
                inferrer=self.inferrer,
                settings=self._attribution,
                now_mono=self.now_mono,
            )
        if shares is not None and len({s.hand.session_id for s in shares}) > 1:
            # hands of several groups each moved part of it: a single winner would be
            # charged the others' items
            return self._decide_shares(item, shares)
        if attribution.decision in (Decision.CONFIDENT, Decision.SESSION):
            session_id = attribution.session_id
            assert session_id is not None  # set for both decisions
            products = item.products
            assert products is not None  # every take is inferred
            if products.unknown or products.tied:
                what = "matches no product" if products.unknown else "is tied between products"
                reason = f"weight change {item.change.delta_g:+.1f} g {what} on {products.shelf_id}"
                return self._review(item, [session_id], reason)
            best = _best_of(attribution, session_id)
            lines = self._take_lines(
                item,
                products.items,
                session_id=session_id,
                track_id=best.track_id,
                line_key=item.item_id,
                evidence=self._evidence(item, attribution, session_id),
                confidence=best.score,
                weighed_g=abs(item.change.delta_g),
            )
            return self._decide(item, session_id, lines)
        if shares is not None:
            return self._decide_shares(item, shares)
        sessions = self._contender_sessions(attribution)
        if not final:
            return self._wait(item, sessions, attribution.reason)
        return self._review(item, sessions, attribution.reason)

    def _take_lines(
        self,
        item: _Item,
        items: Iterable[tuple[str, int]],
        *,
        session_id: str,
        track_id: str,
        line_key: str,
        evidence: tuple[str, ...],
        confidence: float,
        weighed_g: float | None = None,
    ) -> list[LedgerEvent]:
        """One ``LineAdded`` per SKU of a take, with id ``take:<line_key>:<sku>``.

        ``weighed_g``: what the scale measured for the whole take, kept when it
        is of one SKU (units of several SKUs share one measurement).
        """
        items = list(items)
        weighed = weighed_g if len(items) == 1 else None
        return [
            LineAdded(
                source=SOURCE,
                t_mono=item.change.t_mono,
                event_id=f"take:{line_key}:{sku}",
                session_id=session_id,
                member=self._member(track_id),
                sku=sku,
                qty=qty,
                unit_price=self._catalog[sku].price,
                evidence=evidence,
                confidence=confidence,
                unit_weight_g=self._catalog[sku].unit_weight_g,
                weighed_g=weighed,
            )
            for sku, qty in items
        ]

    def _decide_shares(self, item: _Item, shares: list[HandShare]) -> list[Message]:
        """A merged take split between hands: each mover's products on its own bill."""
        out: list[Message] = []
        for share in shares:
            out.extend(self._apply_take_share(item, share))
        sessions = ", ".join(dict.fromkeys(s.hand.session_id or "" for s in shares))
        return out + self._resolve(item, f"split between hands for {sessions}")

    def _apply_take_share(self, item: _Item, share: HandShare) -> list[Message]:
        """One hand's share of a merged take, on its own bill (``take:<item>:<track>:``)."""
        hand = share.hand
        session_id = hand.session_id
        assert session_id is not None  # splits bill bound tracks only
        lines = self._take_lines(
            item,
            share.products.items,
            session_id=session_id,
            track_id=hand.track_id,
            line_key=f"{item.item_id}:{hand.track_id}",
            evidence=_split_evidence(item, hand, share.weight_g, share.position_m),
            confidence=min(hand.score, share.products.confidence),
        )
        return self._apply_lines(item, session_id, lines)

    def _decide_put(self, item: _Item, attribution: Attribution, final: bool) -> list[Message]:
        carts = self._nearby_carts(attribution, item.change)
        result = match_putback(
            item.change,
            carts,
            max_items=self.settings.max_putback_items,
            scale_tolerance_g=self._scale_tolerance_g(item.change.shelf_id),
        )
        matches = result.matches
        chosen: CartMatch | None = None
        by_hand = attribution.decision in (Decision.CONFIDENT, Decision.SESSION)
        for match in matches:
            if by_hand and match.session_id == attribution.session_id:
                chosen = match
        if chosen is None and len(matches) == 1:
            chosen = matches[0]
        if chosen is None and len(matches) > 1:
            chosen = likeliest_cart(matches, _hand_scores(attribution))
        if chosen is not None:
            best = _best_of(attribution, chosen.session_id)
            lines: list[LedgerEvent] = [
                LinePutBack(
                    source=SOURCE,
                    t_mono=item.change.t_mono,
                    event_id=f"putback:{item.item_id}:{sku}",
                    session_id=chosen.session_id,
                    member=self._member(best.track_id),
                    sku=sku,
                    qty=qty,
                    evidence=self._evidence(item, attribution, chosen.session_id),
                    confidence=chosen.confidence,
                )
                for sku, qty in chosen.items
            ]
            return self._decide(item, chosen.session_id, lines)
        if not item.change.one_lift and (shares := self._split_put(item)) is not None:
            return self._decide_put_shares(item, shares)
        sessions = [m.session_id for m in matches]
        names = ", ".join(sessions)
        if not final:
            reason = (
                f"put of {item.change.delta_g:+.1f} g fits the carts of {names}"
                if matches
                else (f"put of {item.change.delta_g:+.1f} g fits no nearby cart yet")
            )
            return self._wait(item, sessions, reason)
        if matches:
            return self._review(item, sessions, f"put fits several carts ({names})")
        foreign = ForeignObject(
            source=SOURCE,
            t_mono=self.now_mono,
            shelf_id=item.change.shelf_id,
            item_id=item.item_id,
            weight_g=abs(item.change.delta_g),
            nearby_sessions=tuple(c.session_id for c in carts),
        )
        _LOGGER.warning(
            "checkout: foreign object of %.1f g on %s", foreign.weight_g, foreign.shelf_id
        )
        return [foreign, *self._resolve(item, "foreign object, on no bill")]

    def _split_put(self, item: _Item) -> list[PutShare] | None:
        """A put no one cart explains, split between the hands that made it (or None)."""
        return self._split_with_carts(item, split_put)

    def _split_with_carts(self, item: _Item, split: Callable[..., _Split | None]) -> _Split | None:
        """``split`` (``split_put``, ``split_mixed``) of ``item``, with the hands' carts."""
        plan = self.planogram.shelves.get(item.change.shelf_id)
        if plan is None:
            return None
        home = self._facings_at(item.change)
        return split(
            item.change,
            self.shelves[item.change.shelf_id],
            self._tracks.values(),
            plan=plan,
            cart_of=lambda session_id: self._cart(session_id, 0.0, home),
            settings=self._attribution,
            now_mono=self.now_mono,
            max_items=self.settings.max_putback_items,
        )

    def _decide_put_shares(self, item: _Item, shares: list[PutShare]) -> list[Message]:
        """A merged put split between hands: each share leaves its own hand's cart."""
        out: list[Message] = []
        for share in shares:
            out.extend(self._apply_put_share(item, share))
        sessions = ", ".join(dict.fromkeys(s.hand.session_id or "" for s in shares))
        return out + self._resolve(item, f"put back by hands of {sessions}")

    def _apply_put_share(self, item: _Item, share: PutShare) -> list[Message]:
        """One hand's share of a merged put, out of its own cart (``putback:<item>:<track>:``)."""
        hand = share.hand
        session_id = hand.session_id
        assert session_id is not None  # splits take bound tracks only
        out: list[Message] = []
        try:
            for sku, qty in share.match.items:
                line = LinePutBack(
                    source=SOURCE,
                    t_mono=item.change.t_mono,
                    event_id=f"putback:{item.item_id}:{hand.track_id}:{sku}",
                    session_id=session_id,
                    member=self._member(hand.track_id),
                    sku=sku,
                    qty=qty,
                    evidence=_split_evidence(item, hand, share.weight_g, share.position_m),
                    confidence=min(hand.score, share.match.confidence),
                )
                out.extend(self.ledger.apply(line))
        except LedgerRejected as exc:
            out.append(self._unresolved(item, f"cannot leave the cart of {session_id}: {exc}"))
        return out

    def _split_mixed(self, item: _Item) -> MixedShares | None:
        """A put by one hand and a take by another in one change (or None)."""
        return self._split_with_carts(item, split_mixed)

    def _decide_mixed(self, item: _Item, mixed: MixedShares) -> list[Message]:
        """One hand put back, another took: each on its own bill, the item resolved once."""
        out = self._apply_put_share(item, mixed.put)
        out.extend(self._apply_take_share(item, mixed.take))
        hands = (mixed.put.hand, mixed.take.hand)
        sessions = ", ".join(dict.fromkeys(hand.session_id or "" for hand in hands))
        return out + self._resolve(item, f"put back and taken by hands of {sessions}")

    # --- outcomes -------------------------------------------------------------------------------

    def _decide(self, item: _Item, session_id: str, lines: list[LedgerEvent]) -> list[Message]:
        """Record the lines, then release every receipt the item blocked."""
        out = self._apply_lines(item, session_id, lines)
        return out + self._resolve(item, f"decided for {session_id}")

    def _apply_lines(self, item: _Item, session_id: str, lines: list[LedgerEvent]) -> list[Message]:
        """Record ``item``'s lines for one session; a refused one is reported, not raised."""
        out: list[Message] = []
        try:
            for line in lines:
                out.extend(self.ledger.apply(line))
        except LedgerRejected as exc:
            out.append(self._unresolved(item, f"cannot go on the bill of {session_id}: {exc}"))
        return out

    def _resolve(self, item: _Item, outcome: str) -> list[Message]:
        self._undecided.pop(item.item_id, None)
        out: list[Message] = []
        for session_id in item.blocked:
            session = self.ledger.state.sessions.get(session_id)
            if session is None or item.item_id not in session.pending:
                continue
            out.extend(
                self.ledger.apply(
                    AttributionResolved(
                        source=SOURCE,
                        t_mono=self.now_mono,
                        event_id=f"resolved:{item.item_id}:{session_id}",
                        session_id=session_id,
                        item_id=item.item_id,
                        outcome=outcome,
                    )
                )
            )
        return out

    def _wait(self, item: _Item, sessions: Iterable[str], reason: str) -> list[Message]:
        """Keep ``item`` undecided and block the receipts it may still change."""
        out: list[Message] = []
        for session_id in sessions:
            if session_id in item.blocked or self._open(session_id) is None:
                continue
            item.blocked.append(session_id)
            out.extend(
                self.ledger.apply(
                    AttributionPending(
                        source=SOURCE,
                        t_mono=self.now_mono,
                        event_id=f"pending:{item.item_id}:{session_id}",
                        session_id=session_id,
                        item_id=item.item_id,
                        evidence=(item.item_id,),
                        reason=reason,
                    )
                )
            )
        return out

    def _review(self, item: _Item, sessions: Iterable[str], reason: str) -> list[Message]:
        """Hand ``item`` to people in every session it concerns (blocked or contending)."""
        self._undecided.pop(item.item_id, None)
        out: list[Message] = []
        reached = False
        for session_id in dict.fromkeys([*item.blocked, *sessions]):
            session = self._open(session_id)
            if session is None:
                continue
            reached = True
            if item.item_id in session.in_review:
                continue
            out.extend(
                self.ledger.apply(
                    ReviewRequested(
                        source=SOURCE,
                        t_mono=self.now_mono,
                        event_id=review_event_id(session_id, item.item_id),
                        session_id=session_id,
                        item_id=item.item_id,
                        reason=reason,
                    )
                )
            )
        if not reached:
            out.append(self._unresolved(item, reason))
        return out

    def _unresolved(self, item: _Item, reason: str) -> ShelfChangeUnresolved:
        _LOGGER.warning("checkout: %s unresolved: %s", item.item_id, reason)
        return ShelfChangeUnresolved(
            source=SOURCE,
            t_mono=self.now_mono,
            shelf_id=item.change.shelf_id,
            item_id=item.item_id,
            kind=item.change.kind,
            delta_g=item.change.delta_g,
            reason=reason,
        )

    def _sweep_reviewed(self) -> list[Message]:
        """Items the ledger sent to review at its deadline are people's now, in every session."""
        out: list[Message] = []
        for item in list(self._undecided.values()):
            if any(self._in_review(sid, item.item_id) for sid in item.blocked):
                out.extend(self._review(item, [], "sent to review at the settlement deadline"))
        return out

    # --- helpers --------------------------------------------------------------------------------

    def _open(self, session_id: str) -> Session | None:
        return self.ledger.state.sessions.get(session_id)

    def _in_review(self, session_id: str, item_id: str) -> bool:
        session = self._open(session_id)
        return session is not None and item_id in session.in_review

    def _member(self, track_id: str) -> str:
        return self._members.get(track_id, f"track:{track_id}")

    def _contenders(self, attribution: Attribution) -> list[TrackScore]:
        if not attribution.candidates:
            return []
        best = attribution.candidates[0].score
        floor = max(self._attribution.min_score, best * self._attribution.contender_ratio)
        return [c for c in attribution.candidates if c.score >= floor]

    def _contender_sessions(self, attribution: Attribution) -> list[str]:
        return list(
            dict.fromkeys(c.session_id for c in self._contenders(attribution) if c.session_id)
        )

    def _evidence(self, item: _Item, attribution: Attribution, session_id: str) -> tuple[str, ...]:
        tracks = [
            f"track:{c.track_id}"
            for c in self._contenders(attribution)
            if c.session_id == session_id
        ]
        return (item.item_id, *tracks)

    def _nearby_carts(self, attribution: Attribution, change: ShelfChange) -> list[NearbyCart]:
        """Carts of the sessions with a track near the put (score >= min_score), nearest first."""
        nearest: dict[str, float] = {}
        for c in attribution.candidates:
            if c.session_id is None or c.score < self._attribution.min_score:
                continue
            nearest[c.session_id] = min(nearest.get(c.session_id, c.distance_m), c.distance_m)
        home = self._facings_at(change)
        seen = {} if self.sightings is None else self.sightings.put_seen(change)
        carts = (
            self._cart(session_id, distance, home, seen) for session_id, distance in nearest.items()
        )
        return [cart for cart in carts if cart is not None]

    def _cart(
        self,
        session_id: str,
        distance_m: float,
        home: set[str],
        seen: Mapping[str, float] | None = None,
    ) -> NearbyCart | None:
        """An open session's cart to match a put-back against.

        ``home``: SKUs whose facing the put is on; ``seen``: what a shelf
        camera saw put down there (:func:`unit_priors`).
        """
        session = self._open(session_id)
        if session is None:
            return None
        units: list[CartUnit] = []
        for line in session.lines:
            if line.unit_weight_g is None:
                continue  # not from a shelf the planogram weighs
            if line.weighing is not None:
                units += weighed_units(
                    line.sku,
                    line.qty,
                    unit_weight_g=line.unit_weight_g,
                    weighed_g=line.weighing.grams,
                    weighed_together=line.weighing.units,
                    tolerance_g=self._tolerances_g.get(line.sku, 0.02 * line.unit_weight_g),
                    scale_tolerance_g=self._weighing_tolerance_g,
                )
            else:
                units += [CartUnit(line.sku, line.unit_weight_g)] * line.qty
        taken = [line.sku for line in session.lines if line.unit_weight_g is not None]
        priors = unit_priors(taken, home, seen)
        return NearbyCart.from_items(
            session_id, distance_m, units, self._tolerances_g, priors=priors
        )

    def _facings_at(self, change: ShelfChange) -> set[str]:
        """SKUs whose facing the change's position falls on (within the position's sigma)."""
        plan = self.planogram.shelves.get(change.shelf_id)
        if plan is None or change.position_m is None:
            return set()
        at = change.position_m
        slack = self.inferrer.for_shelf(change.shelf_id).position_sigma_m(change)
        return {f.sku for f in plan.facings if f.span_m[0] - slack <= at <= f.span_m[1] + slack}

    def _scale_tolerance_g(self, shelf_id: str) -> float:
        plan = self.planogram.shelves.get(shelf_id)
        return 0.0 if plan is None else plan.scale_tolerance_g

    def _prune_tracks(self) -> None:
        """Forget samples older than the retention (nothing undecided can need them)."""
        cutoff = math.nextafter(self.now_mono - self.settings.track_retention_s, math.inf)
        for track_id, track in list(self._tracks.items()):
            # In place: rebuilding each track sample by sample on every tick was the
            # replay's hottest path (about 6 M appends in 10 busy minutes).
            if track.drop_before(cutoff) and not len(track):
                del self._tracks[track_id]
                self._members.pop(track_id, None)
                self._dwell.forget(track_id)


def _hand_scores(attribution: Attribution) -> dict[str, float]:
    """Each bound session's best track score for the change."""
    scores: dict[str, float] = {}
    for candidate in attribution.candidates:
        if candidate.session_id is not None:
            best = scores.get(candidate.session_id, 0.0)
            scores[candidate.session_id] = max(best, candidate.score)
    return scores


def _best_of(attribution: Attribution, session_id: str) -> TrackScore:
    """The best-scoring track of ``session_id`` (there is one when a decision names it)."""
    for candidate in attribution.candidates:
        if candidate.session_id == session_id:
            return candidate
    return TrackScore(f"session:{session_id}", session_id, 0.0, float("inf"), 0.0, False)


def _split_evidence(
    item: _Item, hand: TrackScore, weight_g: float, position_m: float
) -> tuple[str, ...]:
    """A split share's evidence: the change, the hand's track, and its grams and place."""
    return (item.item_id, f"track:{hand.track_id}", f"split:{weight_g:.1f}g@{position_m:.2f}m")
