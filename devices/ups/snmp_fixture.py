"""A walk of an SNMP agent as an snmpsim recording (``.snmprec``), identifying values redacted.

snmpsim serves such a file back (the community is the file name), so a unit
seen in the field becomes a fixture the UPS driver, the tests and the bench
replay. Format: one ``OID|TAG|VALUE`` line per object, sorted by OID (snmpsim
binary-searches the file for GETNEXT); ``TAG`` is the sum of the BER tag's
class, form and number (2 INTEGER, 4 OCTET STRING, 6 OBJECT IDENTIFIER, 64
IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64), with ``x``
appended when the value is hex. Lines starting with ``#`` are comments
(snmpsim skips them): the header says what was replaced.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devices.snmp import SnmpValue, Syntax, oid_tuple
from devices.ups.profile import ResolvedProfile

SNMPREC_TAGS = {
    Syntax.INTEGER: "2",
    Syntax.OCTET_STRING: "4",
    Syntax.NULL: "5",
    Syntax.OID: "6",
    Syntax.IP_ADDRESS: "64",
    Syntax.COUNTER32: "65",
    Syntax.GAUGE32: "66",
    Syntax.TIMETICKS: "67",
    Syntax.OPAQUE: "68",
    Syntax.COUNTER64: "70",
}

_PLAIN = re.compile(rb"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")
"""Octets snmpsim reads back unchanged as text: printable ASCII with nothing to strip at
either end (it strips each line before splitting it, and decodes the file as ISO 8859-1)."""


def snmprec_line(oid: str, value: SnmpValue) -> str:
    """One ``OID|TAG|VALUE`` line; octets that are not plain ASCII text are written in hex."""
    tag = SNMPREC_TAGS[value.syntax]
    content = value.value
    if isinstance(content, bytes):
        if value.syntax is Syntax.IP_ADDRESS and len(content) == 4:
            return f"{oid}|{tag}|{ipaddress.IPv4Address(content)}"
        if value.syntax is Syntax.OCTET_STRING and (not content or _PLAIN.match(content)):
            return f"{oid}|{tag}|{content.decode('ascii')}"
        return f"{oid}|{tag}x|{content.hex()}"
    return f"{oid}|{tag}|{'' if content is None else content}"


def write_snmprec(path: Path, header: Sequence[str], objects: Mapping[str, SnmpValue]) -> None:
    """Write the recording sorted by OID; a crash leaves no half-written fixture behind."""
    lines = [f"# {line}" for line in header]
    lines += [snmprec_line(oid, objects[oid]) for oid in sorted(objects, key=oid_tuple)]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)


# --- redaction ---------------------------------------------------------------------------------

IDENTIFYING: dict[str, tuple[str, str]] = {
    "1.3.6.1.2.1.1.4": ("sysContact", "CONTACT"),
    "1.3.6.1.2.1.1.5": ("sysName", "NAME"),
    "1.3.6.1.2.1.1.6": ("sysLocation", "LOCATION"),
    "1.3.6.1.2.1.33.1.1.5": ("upsIdentName", "NAME"),
    "1.3.6.1.2.1.33.1.1.6": ("upsIdentAttachedDevices", "ATTACHED"),
    "1.3.6.1.2.1.47.1.1.1.1.11": ("entPhysicalSerialNum", "SERIAL"),
    "1.3.6.1.4.1.318.1.1.1.1.1.2": ("upsBasicIdentName", "NAME"),
    "1.3.6.1.4.1.318.1.1.1.1.2.3": ("upsAdvIdentSerialNumber", "SERIAL"),
}
"""Objects whose whole value names the store or the unit: OID -> (object name, placeholder
kind). Every instance under one of these object OIDs is replaced."""

_SERIAL_IN_TEXT = re.compile(
    r"(?P<label>\b(?:S/?N|Serial(?:\s*(?:Number|No\.?))?)(?:\s*[:#=]\s*|\s+))"
    r"(?P<serial>(?=[A-Za-z-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,})",
    re.IGNORECASE,
)
"""A serial number after its label, as cards put it into sysDescr ("... SN: ZA1234567890 ...");
serials contain a digit, which keeps "Serial port" and the like out."""
_MAC_TEXT = re.compile(
    r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])"
)
_IPV4_TEXT = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
"""A dotted quad on its own: "v1.2.3.4" or "1.2.3.4.5" (versions, OIDs) are left alone."""
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

MIN_ECHO = 6
"""A replaced value is also replaced inside other text when it is at least this long:
shorter ones ("ups", "A1") would mangle unrelated words."""

_TEST_NETS = ("192.0.2.0", "198.51.100.0", "203.0.113.0")
"""RFC 5737 documentation ranges: placeholders that are valid addresses but route nowhere."""


@dataclass(frozen=True, slots=True)
class Redaction:
    """One replacement, for the fixture's header: where, what, and by what (never the value).

    ``placeholder`` is empty when parts of a text were replaced.
    """

    oid: str
    what: str
    placeholder: str = ""


@dataclass(slots=True)
class Redactor:
    """Replaces identifying values by placeholders; one value always gets the same placeholder.

    Replaced: the objects of ``IDENTIFYING``; any text that equals one of
    ``secrets`` (the community that read the unit) or a value replaced
    elsewhere, and, when at least ``MIN_ECHO`` long, such a value inside other
    text; serial numbers after a label in text; e-mail addresses; MAC
    addresses as text or as 6 octets that are not text; IPv4 addresses
    (IpAddress values and dotted quads in text) except loopback, 0.0.0.0 and
    netmasks. Kept: everything a driver decides from (status, measurements,
    model, firmware, sysObjectID), so a replay behaves like the unit.
    """

    secrets: tuple[str, ...] = ()
    redactions: list[Redaction] = field(default_factory=list)
    _whole: dict[str, str] = field(default_factory=dict)
    _echo: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _macs: dict[str, str] = field(default_factory=dict)
    _ips: dict[int, str] = field(default_factory=dict)

    def redact(self, objects: Mapping[str, SnmpValue]) -> dict[str, SnmpValue]:
        """A redacted copy of a walk (OID -> value), in OID order."""
        ordered = sorted(objects, key=oid_tuple)
        out = {oid: objects[oid] for oid in ordered}
        for secret in self.secrets:
            self._whole.setdefault(secret, f"REDACTED-COMMUNITY-{self._next('COMMUNITY')}")
        # Whole identifying objects first: their values come back inside other text
        # (sysDescr often carries the serial number, the name, the address).
        for oid in ordered:
            known = _identifying(oid)
            text = _text(out[oid])
            if known is not None and text:
                name, kind = known
                out[oid] = self._replace_whole(oid, name, kind, text)
        for oid in ordered:
            if _identifying(oid) is None:
                out[oid] = self._scrub(oid, out[oid])
        return out

    def _next(self, kind: str) -> int:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return self._counts[kind]

    def _placeholder(self, text: str, kind: str) -> str:
        placeholder = self._whole.get(text)
        if placeholder is None:
            placeholder = self._whole[text] = f"REDACTED-{kind}-{self._next(kind)}"
            if len(text) >= MIN_ECHO:
                self._echo[text] = placeholder
        return placeholder

    def _replace_whole(self, oid: str, name: str, kind: str, text: str) -> SnmpValue:
        placeholder = self._placeholder(text, kind)
        self.redactions.append(Redaction(oid, name, placeholder))
        return SnmpValue(Syntax.OCTET_STRING, placeholder.encode())

    def _scrub(self, oid: str, value: SnmpValue) -> SnmpValue:
        content = value.value
        if value.syntax is Syntax.IP_ADDRESS and isinstance(content, bytes) and len(content) == 4:
            address = ipaddress.IPv4Address(content)
            if keep_ip(address):
                return value
            placeholder = self._ip(address)
            self.redactions.append(Redaction(oid, "IP address", placeholder))
            return SnmpValue(Syntax.IP_ADDRESS, ipaddress.IPv4Address(placeholder).packed)
        if value.syntax is not Syntax.OCTET_STRING or not isinstance(content, bytes):
            return value
        if len(content) == 6 and not _PLAIN.match(content):
            placeholder = self._mac(content.hex())
            self.redactions.append(Redaction(oid, "MAC address", placeholder))
            return SnmpValue(Syntax.OCTET_STRING, bytes.fromhex(placeholder.replace(":", "")))
        text = _text(value)
        if not text:
            return value
        if text in self._whole:
            placeholder = self._whole[text]
            self.redactions.append(Redaction(oid, "a value replaced elsewhere", placeholder))
            return SnmpValue(Syntax.OCTET_STRING, placeholder.encode())
        changed, whats = self._scrub_text(text)
        if changed == text:
            return value
        self.redactions.append(Redaction(oid, f"{', '.join(whats)} inside the text"))
        return SnmpValue(Syntax.OCTET_STRING, changed.encode("utf-8"))

    def _scrub_text(self, text: str) -> tuple[str, list[str]]:
        whats: list[str] = []
        placeholders = set(self._whole.values())

        def serial(match: re.Match[str]) -> str:
            found = match["serial"]
            if found in placeholders:  # already replaced as an echo of a serial object
                return match[0]
            whats.append("serial number")
            return match["label"] + self._placeholder(found, "SERIAL")

        def email(match: re.Match[str]) -> str:
            whats.append("e-mail address")
            found = match[0]
            if found not in self._whole:
                self._whole[found] = f"redacted-{self._next('EMAIL')}@example.invalid"
            return self._whole[found]

        def mac(match: re.Match[str]) -> str:
            whats.append("MAC address")
            digits = re.sub("[:-]", "", match[0]).lower()
            return self._mac(digits).replace(":", match[1])

        def ip(match: re.Match[str]) -> str:
            try:
                address = ipaddress.IPv4Address(match[0])
            except ValueError:
                return match[0]  # 999.1.2.3: not an address
            if keep_ip(address):
                return match[0]
            whats.append("IP address")
            return self._ip(address)

        for secret, placeholder in self._echo.items():
            pattern = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
            text, count = re.subn(pattern, placeholder, text)
            if count:
                whats.append("a replaced value")
        text = _SERIAL_IN_TEXT.sub(serial, text)
        text = _EMAIL.sub(email, text)
        text = _MAC_TEXT.sub(mac, text)
        text = _IPV4_TEXT.sub(ip, text)
        return text, list(dict.fromkeys(whats))

    def _mac(self, hex_digits: str) -> str:
        """02:00:00:00:NN:NN, a locally administered address, numbered per distinct MAC."""
        placeholder = self._macs.get(hex_digits)
        if placeholder is None:
            high, low = divmod(len(self._macs) + 1, 256)
            placeholder = self._macs[hex_digits] = f"02:00:00:00:{high:02x}:{low:02x}"
        return placeholder

    def _ip(self, address: ipaddress.IPv4Address) -> str:
        placeholder = self._ips.get(int(address))
        if placeholder is None:
            net, host = divmod(len(self._ips), 254)
            if net >= len(_TEST_NETS):
                raise ValueError(f"more than {254 * len(_TEST_NETS)} IP addresses to redact")
            placeholder = str(ipaddress.IPv4Address(_TEST_NETS[net]) + host + 1)
            self._ips[int(address)] = placeholder
        return placeholder


def _identifying(oid: str) -> tuple[str, str] | None:
    parts = oid.split(".")
    for length in range(len(parts) - 1, 1, -1):
        known = IDENTIFYING.get(".".join(parts[:length]))
        if known is not None:
            return known
    return None


def _text(value: SnmpValue) -> str:
    """The text of an OCTET STRING that is UTF-8; '' for anything else."""
    if value.syntax is not Syntax.OCTET_STRING or not isinstance(value.value, bytes):
        return ""
    try:
        return value.value.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def keep_ip(address: ipaddress.IPv4Address) -> bool:
    """Loopback, 0.0.0.0 and netmasks (255.255.255.255 included) identify nothing."""
    if address.is_loopback or address.is_unspecified:
        return True
    inverted = ~int(address) & 0xFFFFFFFF
    return (inverted & (inverted + 1)) == 0


def fixture_header(
    device: str,
    version: str,
    resolved: ResolvedProfile | None,
    subtrees: Sequence[str],
    count: int,
    redactions: Sequence[Redaction],
) -> list[str]:
    """The comment lines at the top of a fixture: where it comes from and what was replaced.

    Neither the agent's address nor any replaced value appears in them.
    """
    lines = [
        f"walkout SNMP fixture of UPS {device} (SNMP{version}), written by 'walkout snmp dump'.",
        "snmpsim .snmprec: OID|tag|value, sorted by OID; tags: 2 INTEGER, 4 OCTET STRING, "
        "6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64; "
        "x after a tag: value in hex.",
        f"subtrees walked: {', '.join(subtrees)} ({count} objects)",
    ]
    if resolved is None:
        lines.append("profile: none of walkout's UPS profiles matches this agent")
    else:
        identity = resolved.identity
        unit = " ".join(p for p in (identity.manufacturer, identity.model) if p) or "?"
        quirks = f"; quirks: {', '.join(resolved.quirks)}" if resolved.quirks else ""
        lines.append(
            f"profile: {resolved.profile.name} ({resolved.profile.mib}); unit: {unit}; "
            f"sysObjectID {identity.sys_object_id or '?'}{quirks}"
        )
    if not redactions:
        lines.append("redacted: nothing identifying found")
        return lines
    lines.append("redacted (identifying values replaced; one value, one placeholder):")
    for item in sorted(redactions, key=lambda r: oid_tuple(r.oid)):
        to = f" -> {item.placeholder}" if item.placeholder else ""
        lines.append(f"  {item.oid}: {item.what}{to}")
    return lines
