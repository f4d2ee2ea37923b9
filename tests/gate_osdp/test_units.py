"""Pure parts of the OSDP driver and simulator: framing, credentials, keys, the door model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devices.gate.osdp import timer_count
from devices.gate.osdp_config import (
    OsdpGateSettings,
    ScbkError,
    parse_scbk,
    scbk_from_env,
    scbk_from_file,
)
from devices.gate.osdp_credentials import CardDataError, KeypadBuffer, card_credential, card_hex
from devices.gate.osdp_frames import FrameScanner, checksum8, crc16
from sim_devices.osdp_pd.model import ModelError, Output, PdModel

KEY_HEX = "00112233445566778899aabbccddeeff"

# Replies captured from a libosdp 3.2.9 PD at address 3 (osdp_PDID, and osdp_CCRYPT with
# its security block "03 12 01").
PDID = bytes.fromhex("5383140004454c4b5a0102eb030000010203afc5")
CCRYPT = bytes.fromhex(
    "53832b000e031201764c4b0100eb030000478d7aa05d83f3eaea0a1be29d5ea29c12e3ea262d2a4af84d90"
)


# --- frames -------------------------------------------------------------------------------


def test_crc16_is_aug_ccitt():
    assert crc16(b"123456789") == 0xE5CC  # the catalogued check value of CRC-16/AUG-CCITT


def test_checksum_makes_the_sum_zero():
    data = bytes([0x53, 0x01, 0x08, 0x00, 0x00, 0x60])
    assert (sum(data) + checksum8(data)) & 0xFF == 0


def test_scanner_finds_replies_in_a_stream_cut_anywhere():
    stream = b"\x00\xff\x53garbage" + PDID + b"\xff" + CCRYPT
    scanner = FrameScanner()
    frames = [f for i in range(len(stream)) for f in scanner.feed(stream[i : i + 1])]
    assert [(f.address, f.is_reply, f.code) for f in frames] == [(3, True, 0x45), (3, True, 0x76)]
    assert [f.name for f in frames] == ["PDID", "CCRYPT"]


def test_scanner_skips_a_corrupted_frame():
    bad = bytearray(PDID)
    bad[8] ^= 0x01
    scanner = FrameScanner()
    frames = scanner.feed(bytes(bad) + CCRYPT)
    assert [f.code for f in frames] == [0x76]
    assert scanner.bad_frames >= 1


def test_scanner_reads_checksummed_command_frames():
    body = bytes([0x53, 0x05, 0x07, 0x00, 0x00, 0x60])  # POLL to PD 5, checksum mode
    frames = FrameScanner().feed(body + bytes([checksum8(body)]))
    assert [(f.address, f.is_reply, f.code) for f in frames] == [(5, False, 0x60)]


# --- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "bits", "expected"),
    [
        ("123456C0", 26, "048D15B"),
        ("0123456789", 34, "0048D159E"),
        ("FF", 8, "FF"),
        ("80", 1, "1"),
        ("C0", 2, "3"),
    ],
)
def test_card_bits_become_right_aligned_hex(data, bits, expected):
    assert card_hex(bytes.fromhex(data), bits) == expected


def test_pad_bits_do_not_change_the_card():
    assert card_hex(bytes.fromhex("123456FF"), 26) == card_hex(bytes.fromhex("123456C0"), 26)


def test_backward_card_data_is_reversed():
    assert card_hex(bytes.fromhex("123456C0"), 26, backward=True) == "36A2C48"


def test_bad_card_data_is_refused():
    with pytest.raises(CardDataError, match="26 bits carries only 3 bytes"):
        card_hex(bytes.fromhex("123456"), 26)
    with pytest.raises(CardDataError):
        card_credential({"format": 0, "data": b"\x12"})


def test_formatted_card_is_taken_as_text():
    card = card_credential({"format": 2, "data": b" 12345678 "})
    assert (card.credential, card.bits) == ("12345678", None)


def test_keypad_collects_pins():
    pad = KeypadBuffer(max_digits=6)
    assert pad.feed(b"12") == []
    assert pad.pending
    assert pad.feed(b"34\r5\x7f6#") == ["1234", "6"]  # 0x0D enters, 0x7F clears
    assert pad.feed(b"#") == []  # nothing typed: no empty PIN
    assert pad.feed(b"1234567#") == []  # too long: dropped
    assert pad.overflows == 1


# --- keys and settings --------------------------------------------------------------------


def test_scbk_from_hex_or_raw_bytes(tmp_path, monkeypatch):
    hex_file = tmp_path / "k.hex"
    hex_file.write_text(KEY_HEX.upper() + "\n")
    raw_file = tmp_path / "k.bin"
    raw_file.write_bytes(bytes.fromhex(KEY_HEX))
    assert scbk_from_file(hex_file).get_secret_value() == bytes.fromhex(KEY_HEX)
    assert scbk_from_file(raw_file).get_secret_value() == bytes.fromhex(KEY_HEX)
    monkeypatch.setenv("GATE_SCBK", KEY_HEX)
    assert scbk_from_env("GATE_SCBK").get_secret_value() == bytes.fromhex(KEY_HEX)


def test_bad_scbk_errors_never_show_the_key(tmp_path):
    short = "00112233445566778899aabbccddee"
    with pytest.raises(ScbkError) as caught:
        parse_scbk(short.encode(), where="test")
    assert short not in str(caught.value)
    with pytest.raises(ScbkError, match="cannot read SCBK file"):
        scbk_from_file(tmp_path / "missing")
    with pytest.raises(ValidationError) as invalid:
        OsdpGateSettings(address=1, scbk=short)
    assert short not in str(invalid.value)


def test_settings_hide_the_key():
    settings = OsdpGateSettings(address=1, scbk=KEY_HEX)
    assert KEY_HEX not in repr(settings)
    assert KEY_HEX not in settings.model_dump_json()


def test_settings_refuse_unknown_keys():
    with pytest.raises(ValidationError, match="relay_outptu"):
        OsdpGateSettings(address=1, scbk=KEY_HEX, relay_outptu=1)


@pytest.mark.parametrize(("ms", "count"), [(100, 1), (101, 2), (500, 5), (25_500, 255)])
def test_pulse_length_in_timer_units(ms, count):
    assert timer_count(ms) == count


@pytest.mark.parametrize("ms", [0, -5, 25_501])
def test_pulse_length_out_of_range(ms):
    with pytest.raises(ValueError, match="pulse of"):
        timer_count(ms)


# --- simulator door model -----------------------------------------------------------------


def test_output_control_codes():
    out = Output(0)
    out.apply(2, 0, now=0.0)
    assert out.is_on()
    out.apply(6, 5, now=1.0)  # temporary off for 0.5 s
    assert not out.is_on()
    assert not out.tick(1.4)
    assert out.tick(1.5)
    assert out.is_on()
    out.apply(5, 10, now=2.0)
    out.apply(3, 0, now=2.1)  # permanent off, timer keeps running
    assert out.is_on()
    out.tick(3.0)
    assert not out.is_on()
    out.apply(5, 10, now=4.0)
    out.apply(1, 0, now=4.1)  # permanent off and abort the timer
    assert not out.is_on()
    with pytest.raises(ModelError):
        out.apply(5, 0, now=5.0)


def test_watchdog_frees_a_maglock_exit():
    model = PdModel(address=1, relay_energised="locked", watchdog_s=2.0, started=0.0)
    model.heard(0.5)
    assert (
        model.on_command({"command": 1, "output_no": 0, "control_code": 2, "timer_count": 0}, 0.5)
        == 0
    )
    assert model.passage() == "locked"
    model.heard(1.0)
    model.tick(2.9)
    assert model.passage() == "locked"
    model.tick(3.0)
    assert model.passage() == "open"
    assert model.failsafe_active
    assert (model.failsafe_trips, model.relay_changes[-1][2]) == (1, "failsafe")
    model.tick(10.0)
    assert model.failsafe_trips == 1  # one trip per loss


def test_watchdog_frees_a_strike_exit_by_energising():
    model = PdModel(address=1, relay_energised="open", watchdog_s=1.0, started=0.0)
    model.tick(1.0)
    assert (model.relay.is_on(), model.passage()) == (True, "open")


def test_model_refuses_bad_commands_and_wiring():
    model = PdModel(address=1, outputs=2)
    assert (
        model.on_command({"command": 1, "output_no": 7, "control_code": 1, "timer_count": 0}, 0.0)
        == -1
    )
    assert model.on_command({"command": 1, "output_no": 0}, 0.0) == -1
    with pytest.raises(ModelError):
        PdModel(address=1, outputs=1, relay_output=1)
    with pytest.raises(ModelError, match=r"inputs 0\.\.1"):
        model.set_input(2, True)
