import random

import pytest

from devices.camera.multipart import MultipartError, MultipartParser, boundary_from_content_type

BOUNDARY = "frame"


def _part(body: bytes, *, length: bool = True, nl: bytes = b"\r\n", extra: bytes = b"") -> bytes:
    head = b"--" + BOUNDARY.encode() + nl + b"Content-Type: image/jpeg" + nl
    if length:
        head += b"Content-Length: " + str(len(body)).encode() + nl
    return head + extra + nl + body + nl


def _bodies(seed: int, count: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for n in range(count):
        size = rng.randint(50, 400)
        body = bytearray(rng.randbytes(size))
        body[:2] = b"\xff\xd8"
        body[-2:] = b"\xff\xd9"
        bodies.append(bytes(body) + bytes([n]))
    return bodies


def _feed_split(parser: MultipartParser, data: bytes, cut: int) -> list[bytes]:
    parts = parser.feed(data[:cut]) + parser.feed(data[cut:])
    return [p.body for p in parts]


def test_parts_with_length_survive_every_split_point():
    bodies = _bodies(1)
    # A body may contain a delimiter-looking line: with Content-Length it is not scanned.
    bodies[1] = bodies[1] + b"\r\n--frame\r\n" + bodies[1]
    stream = b"".join(_part(b) for b in bodies)
    for cut in range(len(stream) + 1):
        assert _feed_split(MultipartParser(BOUNDARY), stream, cut) == bodies, cut


def test_parts_without_length_are_found_by_scanning_byte_by_byte():
    bodies = [b.replace(b"--frame", b"") for b in _bodies(2, 4)]
    stream = b"".join(_part(b, length=False) for b in bodies) + b"--frame\r\n"
    parser = MultipartParser(BOUNDARY)
    got = []
    for i in range(len(stream)):
        got += [p.body for p in parser.feed(stream[i : i + 1])]
    assert got == bodies


def test_delimiter_text_inside_a_body_that_is_not_at_a_line_start_is_body():
    body = b"\xff\xd8abc--frame-not-a-delimiter\xff\xd9"
    stream = _part(body, length=False) + b"--frame\r\n"
    assert [p.body for p in MultipartParser(BOUNDARY).feed(stream)] == [body]


def test_bare_newlines_headers_and_timestamp():
    body = b"\xff\xd8payload\xff\xd9"
    stream = _part(body, nl=b"\n", extra=b"X-Timestamp: 1767225600.250000\n")
    (part,) = MultipartParser(BOUNDARY).feed(stream)
    assert part.body == body
    assert part.headers["x-timestamp"] == "1767225600.250000"
    assert part.headers["content-type"] == "image/jpeg"


def test_boundary_with_dashes_from_buggy_firmware_matches_both_spellings():
    body = b"\xff\xd8x\xff\xd9"
    for stream in (
        b"--myb\r\nContent-Length: 5\r\n\r\n" + body + b"\r\n",
        b"----myb\r\nContent-Length: 5\r\n\r\n" + body + b"\r\n",
    ):
        parser = MultipartParser(
            boundary_from_content_type("multipart/x-mixed-replace;boundary=--myb")
        )
        assert [p.body for p in parser.feed(stream)] == [body]


def test_preamble_junk_is_skipped_and_counted_and_the_end_is_seen():
    body = b"\xff\xd8y\xff\xd9"
    parser = MultipartParser(BOUNDARY)
    parts = parser.feed(b"garbage before\r\n" + _part(body) + b"--frame--\r\n")
    assert [p.body for p in parts] == [body]
    assert parser.skipped_bytes == len(b"garbage before")
    assert parser.finished


def test_a_longer_token_that_starts_like_the_boundary_is_not_a_delimiter():
    body = b"\xff\xd8z\xff\xd9"
    stream = b"--framex\r\nContent-Length: 3\r\n\r\nabc\r\n" + _part(body)
    assert [p.body for p in MultipartParser(BOUNDARY).feed(stream)] == [body]


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/x-mixed-replace; boundary=frame", "frame"),
        ('multipart/x-mixed-replace;boundary="my frame"', "my frame"),
        ("Multipart/X-Mixed-Replace; charset=x; BOUNDARY=abc", "abc"),
    ],
)
def test_boundary_from_content_type(content_type, boundary):
    assert boundary_from_content_type(content_type) == boundary


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("image/jpeg", "not a multipart stream"),
        ("multipart/x-mixed-replace", "no boundary"),
        ("multipart/x-mixed-replace; boundary=", "no boundary"),
    ],
)
def test_bad_content_types(content_type, message):
    with pytest.raises(MultipartError, match=message):
        boundary_from_content_type(content_type)


def test_size_limits_and_bad_headers_are_errors():
    with pytest.raises(MultipartError, match="refused"):
        MultipartParser(BOUNDARY, max_part_bytes=100).feed(
            b"--frame\r\nContent-Length: 101\r\n\r\n"
        )
    with pytest.raises(MultipartError, match="not a number"):
        MultipartParser(BOUNDARY).feed(b"--frame\r\nContent-Length: lots\r\n\r\n")
    with pytest.raises(MultipartError, match="exceeds 100 bytes"):
        MultipartParser(BOUNDARY, max_part_bytes=100).feed(b"--frame\r\n\r\n" + b"x" * 200)
    with pytest.raises(MultipartError, match="headers longer"):
        MultipartParser(BOUNDARY, max_header_bytes=64).feed(b"--frame\r\nX: " + b"y" * 100)
    with pytest.raises(MultipartError, match="malformed part header"):
        MultipartParser(BOUNDARY).feed(b"--frame\r\nno colon here\r\n")
