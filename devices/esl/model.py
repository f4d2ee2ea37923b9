"""What a price tag shows, how it is set, and what the store learns back from it.

These types are shared by every ESL transport (the OpenEPaperLink access
point, walkout's MQTT schema) and by the fleet layer above them, so the
checkout engine and the supervisor never see which radio a tag sits on.

A tag that did not acknowledge a change is reported as not updated: a
``TagPushResult`` is ``ACKED`` only when the tag (or its access point on the
tag's behalf, after the tag fetched the data) confirmed it. A shelf price that
differs from the till price is a legal matter in most countries, so "sent" is
never reported as "shown".
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from devices.bus import Message

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})
"""Currencies shown without minor units on a tag (ISO 4217 exponent 0, or customary)."""

MAX_TEXT_LEN = 200
"""Longest name/promo text accepted; a tag cannot show more and a runaway feed is refused."""

_TAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class TagMode(enum.StrEnum):
    """How much a tag shows; the supervisor lowers it in conserve and degraded modes.

    ``no_animations`` drops promotions and ads (banners on e-paper, animations
    on LCD shelf screens); ``dimmed`` keeps only name and price in black (an
    e-paper refresh without the red plane is faster and cheaper, an LCD dims
    its backlight); ``blank`` shows nothing (store closed).
    """

    NORMAL = "normal"
    NO_ANIMATIONS = "no_animations"
    DIMMED = "dimmed"
    BLANK = "blank"


def validate_tag_id(tag_id: str) -> str:
    """``tag_id`` if it is safe as an MQTT topic level and a file name, else ValueError."""
    if not _TAG_ID.match(tag_id):
        raise ValueError(
            f"tag id {tag_id!r} must be 1-64 characters of A-Z a-z 0-9 _ . - "
            "(it becomes an MQTT topic level)"
        )
    return tag_id


@dataclass(frozen=True, slots=True)
class TagContent:
    """One product's label.

    ``price`` is a Decimal in major units (``Decimal("1.99")``): binary floats
    cannot hold most prices exactly. ``unit_price`` is the ready-formatted
    comparison price the law asks for (``"3.98 EUR/kg"``); the store's price
    feed computes it, the tag only shows it. ``layout`` names the template.
    """

    sku: str
    name: str
    price: Decimal
    currency: str = "EUR"
    unit_price: str | None = None
    promo: str | None = None
    layout: str = "standard"

    def __post_init__(self) -> None:
        if not self.sku or len(self.sku) > 64:
            raise ValueError(f"sku {self.sku!r} must be 1-64 characters")
        if not self.name or len(self.name) > MAX_TEXT_LEN:
            raise ValueError(f"{self.sku}: name must be 1-{MAX_TEXT_LEN} characters")
        if not isinstance(self.price, Decimal):
            raise TypeError(f"{self.sku}: price must be a Decimal, not {type(self.price).__name__}")
        if not self.price.is_finite() or self.price < 0:
            raise ValueError(f"{self.sku}: price {self.price} must be a finite amount >= 0")
        exponent = self.price.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -3:
            raise ValueError(f"{self.sku}: price {self.price} has more than 3 decimals")
        if not _CURRENCY.match(self.currency):
            raise ValueError(f"{self.sku}: currency {self.currency!r} must be an ISO 4217 code")
        for key in ("unit_price", "promo"):
            value = getattr(self, key)
            if value is not None and len(value) > MAX_TEXT_LEN:
                raise ValueError(f"{self.sku}: {key} is longer than {MAX_TEXT_LEN} characters")
        if not self.layout or len(self.layout) > 32:
            raise ValueError(f"{self.sku}: layout must be 1-32 characters")

    @property
    def price_text(self) -> str:
        """The price as printed: two decimals, none for zero-decimal currencies."""
        places = Decimal(1) if self.currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
        return str(self.price.quantize(places))

    def to_json(self) -> dict[str, Any]:
        """Wire form; the price travels as a decimal string, never a float."""
        out: dict[str, Any] = {
            "sku": self.sku,
            "name": self.name,
            "price": str(self.price),
            "currency": self.currency,
            "layout": self.layout,
        }
        if self.unit_price is not None:
            out["unit_price"] = self.unit_price
        if self.promo is not None:
            out["promo"] = self.promo
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TagContent:
        """Parse the wire form; ValueError names the bad field."""
        unknown = set(data) - {"sku", "name", "price", "currency", "unit_price", "promo", "layout"}
        if unknown:
            raise ValueError(f"unknown content fields {sorted(unknown)}")
        try:
            price = Decimal(str(data["price"]))
            return cls(
                sku=str(data["sku"]),
                name=str(data["name"]),
                price=price,
                currency=str(data.get("currency", "EUR")),
                unit_price=_opt_str(data.get("unit_price")),
                promo=_opt_str(data.get("promo")),
                layout=str(data.get("layout", "standard")),
            )
        except KeyError as exc:
            raise ValueError(f"content lacks the field {exc.args[0]!r}") from None
        except InvalidOperation:
            raise ValueError(f"price {data.get('price')!r} is not a decimal number") from None


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def canonical_json(data: Any) -> bytes:
    """The one byte form that content hashes are computed over.

    Sorted keys, no whitespace, UTF-8 without escapes: tags and the store
    must arrive at the same bytes from the same JSON, whatever produced it.
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(data: Any) -> str:
    """First 32 hex digits of SHA-256 over :func:`canonical_json` (walkout MQTT schema)."""
    return hashlib.sha256(canonical_json(data)).hexdigest()[:32]


class PushOutcome(enum.StrEnum):
    """How one change to one tag ended."""

    ACKED = "acked"  # the tag confirmed it shows the change
    FAILED = "failed"  # refused (by the tag or the access point), or could not be sent
    TIMEOUT = "timeout"  # sent, but no confirmation within the retries: state unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class TagPushResult(Message):
    """The end of one change to one tag; durable, because a wrong shelf price matters.

    ``content_hash`` is the hash the tag (or its access point) reported for
    what it now shows when acked, else the hash that was asked for.
    ``attempts`` counts the sends (1 = no retry was needed).
    """

    durable: ClassVar[bool] = True
    tag_id: str
    outcome: PushOutcome
    reason: str = ""
    content_hash: str | None = None
    attempts: int = 0
    latency_s: float = 0.0

    @property
    def acked(self) -> bool:
        """The tag confirmed the change."""
        return self.outcome is PushOutcome.ACKED


@dataclass(frozen=True, slots=True, kw_only=True)
class TagStatus(Message):
    """What the store knows about one tag at one moment (telemetry).

    Every field a transport does not report is None, never a guess:
    OpenEPaperLink tags report millivolts but no percentage, walkout MQTT tags
    may report both. ``last_seen`` is the tag's last check-in in Unix seconds
    by the access point's or tag's own clock. ``pending`` counts changes
    queued for the tag that it has not fetched yet.
    """

    tag_id: str
    last_seen: float | None = None
    battery_mv: int | None = None
    battery_pct: int | None = None
    rssi_dbm: int | None = None
    content_hash: str | None = None
    pending: int | None = None
    mode: TagMode | None = None
    hw_type: int | None = None
    update_count: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class EslSnapshot(Message):
    """Every tag one ESL backend knows, as read in one poll."""

    tags: tuple[TagStatus, ...]

    def by_id(self) -> dict[str, TagStatus]:
        """The tags keyed by id."""
        return {t.tag_id: t for t in self.tags}
