"""Card data and key presses from an OSDP reader, turned into credential strings.

Card reads (osdp_RAW) carry ``length`` bits, most significant first, in
``ceil(length / 8)`` bytes; the pad bits of the last byte are not part of the
card. The credential is the bits as one number in upper-case hex, zero-padded
to ``ceil(length / 4)`` digits, so the same card gives the same string
whatever a reader leaves in its pad bits: 26 bits ``12 34 56 C0`` -> ``048D15B``.
A read flagged "backward" (direction 1) is reversed bit by bit first.

Key presses (osdp_KEYPAD) carry ASCII digits; OSDP encodes '*' as 0x7F and
'#' as 0x0D, some readers send the ASCII characters instead: both are taken.
'#' ends a PIN, '*' clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

CARD_FMT_RAW_UNSPECIFIED = 0
CARD_FMT_RAW_WIEGAND = 1
CARD_FMT_ASCII = 2

_ENTER = frozenset({0x0D, ord("#")})
_CLEAR = frozenset({0x7F, ord("*")})


class CardDataError(ValueError):
    """Card data that cannot be a card read (length and data disagree)."""


@dataclass(frozen=True, slots=True)
class CardCredential:
    """A normalised card read."""

    credential: str
    bits: int | None


def card_hex(data: bytes, bits: int, *, backward: bool = False) -> str:
    """The first ``bits`` bits of ``data`` (MSB first) as zero-padded upper-case hex."""
    if bits <= 0:
        raise CardDataError(f"card read of {bits} bits")
    needed = (bits + 7) // 8
    if len(data) < needed:
        raise CardDataError(f"card read of {bits} bits carries only {len(data)} bytes")
    value = int.from_bytes(data[:needed], "big") >> (needed * 8 - bits)
    if backward:
        value = int(f"{value:0{bits}b}"[::-1], 2)
    return f"{value:0{(bits + 3) // 4}X}"


def card_credential(event: dict[str, object]) -> CardCredential:
    """Credential of a libosdp CardRead event dict (``format``, ``length``, ``data``)."""
    fmt = event.get("format")
    data = event.get("data", b"")
    if not isinstance(data, bytes):
        raise CardDataError(f"card data is {type(data).__name__}, not bytes")
    if fmt == CARD_FMT_ASCII:
        text = data.decode("ascii", errors="replace").strip()
        if not text:
            raise CardDataError("empty formatted card read")
        return CardCredential(text, None)
    bits = event.get("length")
    if not isinstance(bits, int):
        raise CardDataError("raw card read without a bit length")
    return CardCredential(card_hex(data, bits, backward=event.get("direction") == 1), bits)


class KeypadBuffer:
    """Collects key presses into PINs; the caller times out stale input with ``clear``."""

    def __init__(self, max_digits: int) -> None:
        self.max_digits = max_digits
        self._digits: list[str] = []
        self.overflows = 0

    @property
    def pending(self) -> bool:
        """Digits typed and not yet ended or cleared."""
        return bool(self._digits)

    def clear(self) -> None:
        """Forget what was typed (timeout, '*', link loss)."""
        self._digits.clear()

    def feed(self, data: bytes) -> list[str]:
        """Add key codes; returns the PINs completed by '#', in order."""
        pins: list[str] = []
        for code in data:
            if code in _ENTER:
                if self._digits:
                    pins.append("".join(self._digits))
                self._digits.clear()
            elif code in _CLEAR:
                self._digits.clear()
            elif 0x30 <= code <= 0x39:
                if len(self._digits) >= self.max_digits:
                    self.overflows += 1
                    self._digits.clear()
                    continue
                self._digits.append(chr(code))
        return pins
