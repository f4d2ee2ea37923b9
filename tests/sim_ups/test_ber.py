"""The hand-written BER/SNMP codec against byte strings derived by hand from X.690 / RFC 1157.

Every expected byte string below was written out from the encoding rules
(tag, length, content), not produced by the encoder; comments show the
derivation.
"""

from __future__ import annotations

import random

import pytest

from sim_devices.ups.ber import BerError, encode_length
from sim_devices.ups.snmp import (
    Counter32,
    Counter64,
    EndOfMibView,
    Gauge32,
    Integer,
    IpAddress,
    Message,
    NoSuchInstance,
    NoSuchObject,
    Null,
    ObjectId,
    OctetString,
    Pdu,
    PduType,
    TimeTicks,
    TrapV1Pdu,
    UnsupportedVersion,
    Version,
    decode_message,
    decode_value,
    oid,
)

# SNMPv1 GetRequest, community "public", request-id 1, one varbind sysDescr.0 = NULL:
#   30 26                          SEQUENCE, 38 octets
#     02 01 00                     version 0 (v1)
#     04 06 70 75 62 6c 69 63      "public"
#     a0 19                        GetRequest-PDU, 25 octets
#       02 01 01                   request-id 1
#       02 01 00  02 01 00         error-status 0, error-index 0
#       30 0e                      VarBindList, 14 octets
#         30 0c                    VarBind, 12 octets
#           06 08 2b 06 01 02 01 01 01 00   1.3.6.1.2.1.1.1.0 (1*40+3 = 0x2b)
#           05 00                  NULL
GET_SYSDESCR_V1 = bytes.fromhex(
    "3026 020100 0406 7075626c6963 a019 020101 020100 020100 300e 300c 0608 2b06010201010100 0500"
)

# SNMPv2c GetBulkRequest, "public", request-id 0x1234, non-repeaters 0,
# max-repetitions 10, one varbind upsBattery (1.3.6.1.2.1.33.1.2; 33 = 0x21):
#   30 27 | 02 01 01 | 04 06 public | a5 1a | 02 02 12 34 | 02 01 00 | 02 01 0a
#   | 30 0e 30 0c 06 08 2b 06 01 02 01 21 01 02 05 00
GETBULK_UPS_BATTERY = bytes.fromhex(
    "3027 020101 0406 7075626c6963 a51a 02021234 020100 02010a 300e 300c 0608 2b06010201210102 0500"
)

# SNMPv2c Response, "public", request-id 1, upsOutputSource.0 = INTEGER 5 (battery):
#   30 29 | 02 01 01 | 04 06 public | a2 1c | 02 01 01 | 02 01 00 | 02 01 00
#   | 30 11 30 0f 06 0a 2b 06 01 02 01 21 01 04 01 00 02 01 05
RESPONSE_OUTPUT_SOURCE = bytes.fromhex(
    "3029 020101 0406 7075626c6963 a21c 020101 020100 020100"
    " 3011 300f 060a 2b060102012101040100 020105"
)

# SNMPv1 Trap-PDU, "public": enterprise upsTraps (1.3.6.1.2.1.33.2), agent 127.0.0.1,
# generic 6, specific 1, time-stamp 100, no varbinds:
#   a4 1a | 06 07 2b 06 01 02 01 21 02 | 40 04 7f 00 00 01 | 02 01 06 | 02 01 01
#   | 43 01 64 | 30 00          -> 9 + 6 + 3 + 3 + 3 + 2 = 26 = 0x1a
#   message: 30 27 | 02 01 00 | 04 06 public | a4 1a ...   -> 3 + 8 + 28 = 39 = 0x27
TRAP_V1_ON_BATTERY = bytes.fromhex(
    "3027 020100 0406 7075626c6963 a41a 06072b060102012102 40047f000001 020106 020101 430164 3000"
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (Integer(0), "020100"),
        (Integer(127), "02017f"),
        (Integer(128), "02020080"),  # 0x80 alone would be -128
        (Integer(256), "02020100"),
        (Integer(-1), "0201ff"),
        (Integer(-128), "020180"),
        (Integer(-129), "0202ff7f"),
        (Integer(2**31 - 1), "02047fffffff"),
        (Integer(-(2**31)), "020480000000"),
        (OctetString(b""), "0400"),
        (OctetString(b"public"), "04067075626c6963"),
        (Null(), "0500"),
        (ObjectId(oid("1.3.6.1.4.1.32473")), "06082b06010401 81fd59"),  # 32473 = 1*128^2+125*128+89
        (ObjectId(oid("2.999.3")), "0603883703"),  # X.690 8.19.5 example: 2*40+999 = 1079
        (ObjectId(oid("1.3.6.1.2.1.33.2.1")), "06082b06010201210201"),
        (IpAddress(bytes([127, 0, 0, 1])), "40047f000001"),
        (Counter32(0), "410100"),
        (Counter32(2**32 - 1), "410500ffffffff"),  # unsigned: leading 00 keeps it positive
        (Gauge32(200), "420200c8"),
        (TimeTicks(100), "430164"),
        (Counter64(2**64 - 1), "460900ffffffffffffffff"),
        (NoSuchObject(), "8000"),
        (NoSuchInstance(), "8100"),
        (EndOfMibView(), "8200"),
    ],
)
def test_value_encoding_matches_hand_derived_bytes(value: object, encoded: str) -> None:
    expected = bytes.fromhex(encoded.replace(" ", ""))
    assert value.encode() == expected  # type: ignore[attr-defined]
    assert decode_value(expected[0], expected[2:]) == value


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8180"), (200, "81c8"), (255, "81ff"), (256, "820100"),
     (300, "82012c"), (65535, "82ffff"), (65536, "83010000")],
)  # fmt: skip
def test_length_forms(length: int, encoded: str) -> None:
    assert encode_length(length) == bytes.fromhex(encoded)


def test_long_octet_string_uses_long_form_length() -> None:
    text = b"x" * 300
    assert OctetString(text).encode() == b"\x04\x82\x01\x2c" + text


def test_get_request_vector_decodes_and_reencodes() -> None:
    message = decode_message(GET_SYSDESCR_V1)
    assert message.version == Version.V1
    assert message.community == b"public"
    assert isinstance(message.pdu, Pdu)
    assert message.pdu.type == PduType.GET
    assert message.pdu.request_id == 1
    assert message.pdu.varbinds == ((oid("1.3.6.1.2.1.1.1.0"), Null()),)
    assert message.encode() == GET_SYSDESCR_V1


def test_getbulk_vector_fields() -> None:
    message = decode_message(GETBULK_UPS_BATTERY)
    pdu = message.pdu
    assert isinstance(pdu, Pdu)
    assert message.version == Version.V2C
    assert pdu.type == PduType.GET_BULK
    assert pdu.request_id == 0x1234
    assert (pdu.non_repeaters, pdu.max_repetitions) == (0, 10)
    assert pdu.varbinds == ((oid("1.3.6.1.2.1.33.1.2"), Null()),)
    assert message.encode() == GETBULK_UPS_BATTERY


def test_response_encoding_matches_vector() -> None:
    pdu = Pdu(PduType.RESPONSE, 1, 0, 0, ((oid("1.3.6.1.2.1.33.1.4.1.0"), Integer(5)),))
    assert Message(Version.V2C, b"public", pdu).encode() == RESPONSE_OUTPUT_SOURCE
    assert decode_message(RESPONSE_OUTPUT_SOURCE).pdu == pdu


def test_trap_v1_encoding_matches_vector() -> None:
    trap = TrapV1Pdu(oid("1.3.6.1.2.1.33.2"), bytes([127, 0, 0, 1]), 6, 1, 100, ())
    assert Message(Version.V1, b"public", trap).encode() == TRAP_V1_ON_BATTERY
    assert decode_message(TRAP_V1_ON_BATTERY).pdu == trap


def test_long_form_length_from_a_peer_is_accepted() -> None:
    # X.690 allows "81 26" for 38; some managers send it. Same message as GET_SYSDESCR_V1.
    lenient = b"\x30\x81\x26" + GET_SYSDESCR_V1[2:]
    assert decode_message(lenient) == decode_message(GET_SYSDESCR_V1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"\x30\x80" + GET_SYSDESCR_V1[2:] + b"\x00\x00", "indefinite"),
        (GET_SYSDESCR_V1 + b"\x00", "trailing"),
        (b"\x04\x06public", "expected tag 0x30"),
        (b"\x1f\x01\x00", "multi-byte tag"),
        (GET_SYSDESCR_V1.replace(b"\xa0\x19", b"\xaf\x19"), "unknown PDU tag"),
        (GET_SYSDESCR_V1.replace(b"\x05\x00", b"\x05\x01"), "runs past"),
        (GET_SYSDESCR_V1.replace(b"\x01\x00\x05", b"\x01\x81\x05"), "inside a sub-identifier"),
        (b"\x30\x03\x02\x01", "runs past"),
        (b"\x30\x85\x00\x00\x00\x00\x01\x00", "length of 5 octets"),
    ],
)  # fmt: skip
def test_malformed_messages_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BerError, match=reason):
        decode_message(data)


def test_snmpv3_is_an_unsupported_version() -> None:
    v3 = b"\x30\x03\x02\x01\x03"
    with pytest.raises(UnsupportedVersion) as info:
        decode_message(v3)
    assert info.value.version == 3


def test_every_truncation_of_a_valid_message_is_rejected() -> None:
    for cut in range(len(GET_SYSDESCR_V1)):
        with pytest.raises(BerError):
            decode_message(GET_SYSDESCR_V1[:cut])


def test_random_corruption_never_raises_anything_but_ber_error() -> None:
    rng = random.Random(1628)
    vectors = [GET_SYSDESCR_V1, GETBULK_UPS_BATTERY, RESPONSE_OUTPUT_SOURCE, TRAP_V1_ON_BATTERY]
    parsed = 0
    for _ in range(5000):
        data = bytearray(rng.choice(vectors))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            decode_message(bytes(data))
            parsed += 1
        except BerError:
            pass
    assert parsed < 5000  # most corruptions must be caught


def test_oid_sub_identifier_over_32_bits_is_rejected() -> None:
    # 2^32 as a sub-identifier: 0x90 0x80 0x80 0x80 0x00 (5 base-128 digits)
    content = b"\x2b\x90\x80\x80\x80\x00"
    with pytest.raises(BerError, match="32 bits"):
        decode_value(0x06, content)


def test_integer_out_of_range_is_rejected() -> None:
    with pytest.raises(BerError):
        decode_value(0x02, b"\x00\x80\x00\x00\x00")  # 2^31
    with pytest.raises(BerError):
        decode_value(0x41, b"\xff")  # negative Counter32


def test_round_trip_of_every_value_type_in_one_message() -> None:
    varbinds = (
        (oid("1.3.6.1.2.1.1.1.0"), OctetString(b"ups")),
        (oid("1.3.6.1.2.1.1.2.0"), ObjectId(oid("1.3.6.1.2.1.33"))),
        (oid("1.3.6.1.2.1.1.3.0"), TimeTicks(123456)),
        (oid("1.3.6.1.2.1.33.1.3.1.0"), Counter32(7)),
        (oid("1.3.6.1.2.1.33.1.6.1.0"), Gauge32(3)),
        (oid("1.3.6.1.4.1.32473.1.1.0"), Counter64(2**40)),
        (oid("1.3.6.1.2.1.4.20.1.1.127.0.0.1"), IpAddress(bytes([127, 0, 0, 1]))),
        (oid("1.3.6.1.2.1.33.1.2.6.0"), Integer(-146)),
        (oid("1.3.6.1.2.1.33.1.9.99.0"), NoSuchObject()),
        (oid("1.3.6.1.2.1.33.1.2.3.1"), NoSuchInstance()),
        (oid("1.3.6.1.9"), EndOfMibView()),
    )
    message = Message(Version.V2C, b"private", Pdu(PduType.RESPONSE, -5, 0, 0, varbinds))
    assert decode_message(message.encode()) == message
