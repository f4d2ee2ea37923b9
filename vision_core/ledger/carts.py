"""Sessions and carts: one bill per admitted credential, shared by its group.

Pure data and rules, no I/O: the ledger journals an event first and only
then calls these. Every method that changes a cart checks everything it
needs *before* changing anything, so an event it refuses leaves the cart as
it was (and the ledger refuses it before it reaches the journal).

Put-backs follow the group, not the person: the most recent add of that sku
by anyone in the session leaves first (a parent putting back what a child
took fixes the one bill they share).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from decimal import Decimal

MONEY_EXPONENT = -2
"""Prices carry at most two decimal places (the minor unit of EUR, USD, GBP ...)."""


class CartError(ValueError):
    """An event that the cart cannot take as it is (the ledger refuses it)."""


class PutBackUnmatched(CartError):
    """A put-back of something the group does not have in its cart (an alert, not a credit)."""


class SessionState(enum.StrEnum):
    """Where a session is between the entry gate and its receipt."""

    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"


def redact(credential: str) -> str:
    """Keep only the last four characters of a credential; idempotent.

    Receipts and the journal identify a card or app code to a person who
    holds it, never enough to reuse it.
    """
    tail = credential[-4:] if len(credential) > 4 else ""
    return "*" * max(len(credential) - len(tail), 4) + tail


def check_price(unit_price: Decimal) -> None:
    """Refuse prices that would make a total inexact or nonsensical."""
    if not isinstance(unit_price, Decimal):
        raise CartError(f"unit price must be a Decimal, got {type(unit_price).__name__}")
    if not unit_price.is_finite() or unit_price < 0:
        raise CartError(f"unit price must be a finite amount >= 0, got {unit_price}")
    exponent = unit_price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < MONEY_EXPONENT:
        raise CartError(f"unit price {unit_price} has more than two decimal places")


@dataclass(frozen=True, slots=True)
class Weighing:
    """``grams`` the scale measured for ``units`` units of a line, taken together.

    Kept as added: a put-back of some of them leaves the rest's mean weight as it was.
    """

    grams: float
    units: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.grams) and self.grams > 0) or self.units < 1:
            raise CartError(f"a weighing of {self.grams} g for {self.units} units is not one")

    @property
    def unit_g(self) -> float:
        """The mean weight of the units weighed."""
        return self.grams / self.units


@dataclass(slots=True)
class CartLine:
    """Units of one sku taken by one member, from one add (``line_id``: that event's id)."""

    line_id: str
    member: str
    sku: str
    qty: int
    unit_price: Decimal
    evidence: tuple[str, ...]
    confidence: float
    t_mono: float
    unit_weight_g: float | None = None
    weighing: Weighing | None = None
    """What the scale measured when the line was added (see ``LineAdded.weighed_g``)."""

    @property
    def amount(self) -> Decimal:
        """What this line costs (exact: Decimal times int)."""
        return self.unit_price * self.qty


@dataclass(slots=True)
class Session:
    """One shopper, or a group that shares one bill.

    ``members``: the people who went in, in order; ``exits``: how many of the
    session's people went out (the exit gate cannot tell who);
    ``pending``: item id -> evidence of attributions not yet decided;
    ``in_review``: item id -> why it waits for a person. Both block the receipt.
    """

    session_id: str
    credential: str
    group_size: int
    currency: str
    opened_mono: float
    members: list[str] = field(default_factory=list)
    exits: int = 0
    lines: list[CartLine] = field(default_factory=list)
    removed: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)
    in_review: dict[str, str] = field(default_factory=dict)
    state: SessionState = SessionState.OPEN
    closed_mono: float | None = None

    # --- checks (no side effects) -----------------------------------------------------------

    def check_open(self) -> None:
        """Carts change only while the session is not settled."""
        if self.state is SessionState.SETTLED:
            raise CartError(f"session {self.session_id} is already settled")

    def check_add(self, sku: str, qty: int, unit_price: Decimal, line_id: str) -> None:
        """Everything :meth:`add` needs, checked without changing the cart."""
        self.check_open()
        if qty < 1:
            raise CartError(f"add of {sku}: qty must be >= 1, got {qty}")
        check_price(unit_price)
        if any(line.line_id == line_id for line in self.lines):
            raise CartError(f"session {self.session_id} already has line {line_id}")

    def check_put_back(self, sku: str, qty: int) -> None:
        """Everything :meth:`put_back` needs, checked without changing the cart."""
        self.check_open()
        if qty < 1:
            raise CartError(f"put-back of {sku}: qty must be >= 1, got {qty}")
        held = sum(line.qty for line in self.lines if line.sku == sku)
        if held < qty:
            raise PutBackUnmatched(
                f"session {self.session_id}: put-back of {qty} x {sku} but the group holds {held}"
            )

    # --- changes -----------------------------------------------------------------------------

    def join(self, member: str) -> None:
        """A person of the group went in (a member seen twice is counted once)."""
        if member not in self.members:
            self.members.append(member)

    def add(self, line: CartLine) -> None:
        """Put a taken item in the cart."""
        self.check_add(line.sku, line.qty, line.unit_price, line.line_id)
        self.lines.append(line)

    def put_back(self, sku: str, qty: int, evidence: tuple[str, ...]) -> list[tuple[str, int]]:
        """Take ``qty`` units of ``sku`` out, newest adds first, whoever added them.

        Returns ``(line_id, units)`` for each line it took units from.
        """
        self.check_put_back(sku, qty)
        taken: list[tuple[str, int]] = []
        left = qty
        for index in range(len(self.lines) - 1, -1, -1):
            line = self.lines[index]
            if line.sku != sku:
                continue
            units = min(line.qty, left)
            taken.append((line.line_id, units))
            self.removed.append((line.line_id, units, evidence))
            if units == line.qty:
                del self.lines[index]
            else:
                line.qty -= units
            left -= units
            if left == 0:
                break
        return taken

    # --- reading -----------------------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        """The bill so far, exact."""
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def people_inside(self) -> int:
        """People of the session still in the store, as far as the gates counted."""
        return max(len(self.members) - self.exits, 0)

    @property
    def blocking(self) -> list[str]:
        """Item ids that keep the receipt from settling."""
        return [*self.pending, *self.in_review]

    def split_by_member(self) -> dict[str, Decimal]:
        """What each member's own adds came to (for groups that want to split the bill)."""
        out: dict[str, Decimal] = {}
        for line in self.lines:
            out[line.member] = out.get(line.member, Decimal(0)) + line.amount
        return out

    def match_put_back_weight(self, delta_g: float, tolerance_g: float) -> list[str]:
        """Skus in the cart whose unit weight matches an arrival of ``delta_g`` grams.

        For an item put back on a shelf it does not belong to, the planogram of
        that shelf knows nothing: the cart does. Most recently added first.
        """
        out: list[str] = []
        for line in reversed(self.lines):
            if line.unit_weight_g is None or line.sku in out:
                continue
            if abs(line.unit_weight_g - abs(delta_g)) <= tolerance_g:
                out.append(line.sku)
        return out
