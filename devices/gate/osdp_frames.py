"""Just enough OSDP framing to see which PD answered what, next to libosdp.

libosdp owns the protocol; this module only watches the bytes the control
panel receives, because the Python binding hides two things a gate driver
needs:

- *when a PD last answered*: libosdp notices a silent PD only after eight
  probes (~9 s); a door controller that stopped answering must be reported in
  about a second;
- *what it last answered before a failed connect*: a PD whose last reply was
  its cryptogram (``osdp_CCRYPT``) failed the secure channel handshake, which
  with a valid frame means the keys differ; a PD that never answered is
  absent. libosdp only prints this to its log.

Frame layout (OSDP v2.2, 5.7): SOM ``0x53``, address (bit 7 set on replies),
length (16-bit LE, whole frame), control (bit 2: CRC-16 instead of an 8-bit
checksum; bit 3: a security block follows), [security block: its own length
first], command or reply code, data, [MAC], CRC-16/AUG-CCITT (LE) or checksum.
"""

from __future__ import annotations

from dataclasses import dataclass

SOM = 0x53
CTRL_CRC = 0x04
CTRL_SCB = 0x08
REPLY_BIT = 0x80
MIN_FRAME = 7  # header (5) + code (1) + checksum (1)
MAX_FRAME = 1440  # beyond any PD's receive buffer; a larger length is noise

CMD_CHLNG = 0x76
CMD_SCRYPT = 0x77

REPLY_ACK = 0x40
REPLY_NAK = 0x41
REPLY_PDID = 0x45
REPLY_PDCAP = 0x46
REPLY_CCRYPT = 0x76
REPLY_RMAC_I = 0x78

REPLY_NAMES = {
    REPLY_ACK: "ACK",
    REPLY_NAK: "NAK",
    REPLY_PDID: "PDID",
    REPLY_PDCAP: "PDCAP",
    0x48: "LSTATR",
    0x49: "ISTATR",
    0x4A: "OSTATR",
    0x50: "RAW",
    0x53: "KEYPAD",
    REPLY_CCRYPT: "CCRYPT",
    REPLY_RMAC_I: "RMAC_I",
    0x79: "BUSY",
}


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F, no reflection), OSDP's frame check."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def checksum8(data: bytes | bytearray | memoryview) -> int:
    """The 8-bit two's complement checksum used when the control byte asks for no CRC."""
    return -sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class Frame:
    """One checked OSDP frame seen on the line."""

    address: int  # 0..127, without the reply bit
    is_reply: bool
    code: int  # command or reply code
    length: int

    @property
    def name(self) -> str:
        """Reply name for logs ("CCRYPT"), or the code in hex."""
        return (
            REPLY_NAMES.get(self.code, f"0x{self.code:02X}")
            if self.is_reply
            else (f"cmd 0x{self.code:02X}")
        )


class FrameScanner:
    """Finds checked OSDP frames in a byte stream fed in arbitrary pieces.

    Bytes that do not start a valid frame are skipped one at a time, so line
    noise or a frame cut in half costs at most that frame.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; returns the frames completed by them."""
        self._buf += data
        found: list[Frame] = []
        buf = self._buf
        while True:
            start = buf.find(SOM)
            if start < 0:
                buf.clear()
                break
            if start:
                del buf[:start]
            if len(buf) < 5:
                break
            length = buf[2] | (buf[3] << 8)
            if not MIN_FRAME <= length <= MAX_FRAME:
                del buf[:1]
                continue
            if len(buf) < length:
                break
            frame = _check(bytes(buf[:length]))
            if frame is None:
                self.bad_frames += 1
                del buf[:1]
                continue
            self.frames += 1
            found.append(frame)
            del buf[:length]
        return found


def _check(raw: bytes) -> Frame | None:
    control = raw[4]
    if control & CTRL_CRC:
        if len(raw) < MIN_FRAME + 1:
            return None
        if crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
            return None
    elif checksum8(raw[:-1]) != raw[-1]:
        return None
    pos = 5
    if control & CTRL_SCB:
        pos += raw[5]
    end = len(raw) - (2 if control & CTRL_CRC else 1)
    if pos >= end:
        return None
    return Frame(
        address=raw[1] & 0x7F,
        is_reply=bool(raw[1] & REPLY_BIT),
        code=raw[pos],
        length=len(raw),
    )
