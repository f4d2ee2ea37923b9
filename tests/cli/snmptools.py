"""The recordings the CLI's SNMP tests serve with snmpsim (tests/peers/snmpsim.py)."""

from __future__ import annotations

from pathlib import Path

from peers.snmprec import Record

HANDMADE_APC = Path(__file__).parents[1] / "ups_snmp" / "data" / "apc-smart-ups-handmade.snmprec"


def octets_text(record: Record) -> str:
    """The text of an OCTET STRING record, plain or hex, every byte kept (ISO-8859-1)."""
    return record.octets.decode("iso-8859-1")
