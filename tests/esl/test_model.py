"""Tag content validation, wire form and the content hash both MQTT ends compute."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from devices.esl.model import TagContent, canonical_json, content_hash, validate_tag_id
from devices.esl.oepl import normalize_mac
from devices.esl.ratelimit import TokenBucket


def milk() -> TagContent:
    return TagContent(
        sku="4006381333931",
        name="Whole milk 1 l",
        price=Decimal("1.29"),
        unit_price="1.29 EUR/l",
        promo="2 for 2.00",
    )


def test_content_hash_is_sha256_of_the_canonical_json_written_by_hand() -> None:
    # Sorted keys, no whitespace, price as a string: the form the schema documents.
    canonical = (
        '{"currency":"EUR","layout":"standard","name":"Whole milk 1 l","price":"1.29",'
        '"promo":"2 for 2.00","sku":"4006381333931","unit_price":"1.29 EUR/l"}'
    )
    assert canonical_json(milk().to_json()) == canonical.encode()
    assert content_hash(milk().to_json()) == hashlib.sha256(canonical.encode()).hexdigest()[:32]


def test_unicode_is_hashed_unescaped() -> None:
    data = {"name": "Crème brûlée"}
    expected = hashlib.sha256('{"name":"Crème brûlée"}'.encode()).hexdigest()[:32]
    assert content_hash(data) == expected


def test_wire_form_round_trips_and_keeps_the_price_exact() -> None:
    back = TagContent.from_json(milk().to_json())
    assert back == milk()
    assert back.price == Decimal("1.29")


@pytest.mark.parametrize(
    ("price", "currency", "text"),
    [
        (Decimal("1.5"), "EUR", "1.50"),
        (Decimal("120"), "JPY", "120"),
        (Decimal("0"), "USD", "0.00"),
    ],
)
def test_price_text(price: Decimal, currency: str, text: str) -> None:
    assert TagContent(sku="x", name="n", price=price, currency=currency).price_text == text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price": Decimal("-1")}, ">= 0"),
        ({"price": Decimal("NaN")}, "finite"),
        ({"price": Decimal("1.2345")}, "3 decimals"),
        ({"currency": "euro"}, "ISO 4217"),
        ({"name": ""}, "name"),
        ({"promo": "x" * 201}, "promo"),
    ],
)
def test_bad_content_is_refused_with_the_field_named(
    kwargs: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"sku": "x", "name": "n", "price": Decimal("1")} | kwargs
    with pytest.raises(ValueError, match=message):
        TagContent(**fields)  # type: ignore[arg-type]


def test_a_float_price_is_refused() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        TagContent(sku="x", name="n", price=1.29)  # type: ignore[arg-type]


def test_from_json_names_the_missing_and_unknown_fields() -> None:
    with pytest.raises(ValueError, match="'price'"):
        TagContent.from_json({"sku": "x", "name": "n"})
    with pytest.raises(ValueError, match="colour"):
        TagContent.from_json({"sku": "x", "name": "n", "price": "1", "colour": "red"})
    with pytest.raises(ValueError, match="not a decimal"):
        TagContent.from_json({"sku": "x", "name": "n", "price": "one"})


@pytest.mark.parametrize("bad", ["a/b", "a+b", "#", "", "x" * 65, "tag 1"])
def test_tag_ids_must_be_safe_topic_levels(bad: str) -> None:
    with pytest.raises(ValueError, match="topic level"):
        validate_tag_id(bad)


def test_macs_are_normalised_like_the_ap_does() -> None:
    assert normalize_mac("0000021ede000001") == "0000021EDE000001"
    assert normalize_mac("AABBCCDDEEFF") == "0000AABBCCDDEEFF"  # hex2mac: 6 bytes, two zeros
    for bad in ("AABBCCDDEE", "0000021EDE00000G", "00:11:22:33:44:55"):
        with pytest.raises(ValueError, match="hex digits"):
            normalize_mac(bad)


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_starts_full_then_refills_at_its_rate() -> None:
    clock = ManualClock()
    bucket = TokenBucket(2.0, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(0.5)  # one token per 0.5 s at 2/s
    clock.now += 0.5
    assert bucket.try_take() == 0.0
    clock.now += 100.0  # refills to the burst, not beyond
    assert [bucket.try_take() for _ in range(4)][-1] == pytest.approx(0.5)
