"""Tuning of the checkout engine (a plain frozen dataclass; the store config validates it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vision_core.inference.attribution import AttributionSettings
from vision_core.ledger.settlement import SettlementPolicy


@dataclass(frozen=True, slots=True)
class CheckoutSettings:
    """How long decisions may wait, and what counts as dwelling.

    ``wait_s``: how long after a shelf event its undecided attribution may
    wait for evidence (late track samples, a track bound to its session)
    before it goes to review; it replaces ``attribution.wait_s``.
    ``settle_deadline_s``: how long after a session closes its still-pending
    items may wait before the ledger sends them to review (the receipt
    target is 5 s after leaving); the ledger must be opened with
    :meth:`settlement_policy`.
    ``settle_after_s``: the least time from the exit to the receipt, so that a
    take made just before leaving (still settling on the scale, or behind the
    exit on the bus) is on the bill; 0.5 s covers a scale's three stable
    samples at 10 Hz plus the bus.
    ``dwell_s`` / ``dwell_radius_m``: a shopper whose body stays within the
    radius of one shelf's front edge this long is dwelling there.
    ``track_retention_s``: samples older than this (store time) are dropped;
    it must cover an event's duration, the time pad and ``wait_s``.
    ``max_putback_items``: most units one put-back is assumed to return.
    ``learn_hand_sigma``: score hands with the width the store's own sure
    cases show (:mod:`vision_core.inference.hand_spread`) once enough are in;
    ``attribution.hand_sigma_m`` is then the starting value and the scale of
    the bounds. Off, the configured width holds.
    """

    currency: str = "EUR"
    wait_s: float = 10.0
    settle_deadline_s: float = 5.0
    settle_after_s: float = 0.5
    dwell_s: float = 3.0
    dwell_radius_m: float = 0.8
    track_retention_s: float = 120.0
    max_putback_items: int = 6
    learn_hand_sigma: bool = True
    attribution: AttributionSettings = field(default_factory=AttributionSettings)

    def __post_init__(self) -> None:
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code like 'EUR', got {self.currency!r}")
        for name in ("wait_s", "settle_deadline_s", "dwell_s", "dwell_radius_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.settle_after_s < self.settle_deadline_s:
            raise ValueError(
                f"settle_after_s must be in [0, settle_deadline_s), got {self.settle_after_s}"
            )
        if self.max_putback_items < 1:
            raise ValueError(f"max_putback_items must be >= 1, got {self.max_putback_items}")
        needed = self.wait_s + 2 * self.attribution.time_pad_s
        if self.track_retention_s < needed:
            raise ValueError(
                f"track_retention_s must be >= wait_s + 2 x time_pad_s = {needed:g} s, "
                f"got {self.track_retention_s}"
            )

    @property
    def attribution_settings(self) -> AttributionSettings:
        """The attribution tuning with this engine's ``wait_s``."""
        return dataclasses.replace(self.attribution, wait_s=self.wait_s)

    def settlement_policy(self) -> SettlementPolicy:
        """The policy to open the ledger with (``review_after_s = settle_deadline_s``)."""
        return SettlementPolicy(
            review_after_s=self.settle_deadline_s, settle_after_s=self.settle_after_s
        )
