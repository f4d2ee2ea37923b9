"""``walkout scan modbus`` as a child process against a simulator process.

The simulator's ready line says which unit ids each server hosts: the TCP server is a
gateway for unit 1 (an mc10) only, the RTU line carries unit 2 (a tx1) only.
"""

from __future__ import annotations

from pathlib import Path

from .clitools import SimProcess, table_rows, walkout, walkout_all


def scan_hits(stdout: str) -> list[dict[str, str]]:
    """Rows of the scan table with a unit id (wrapped notes continue on unit-less rows)."""
    return [
        {"link": row[0], "unit": row[1], "profile": row[2]}
        for row in table_rows(stdout)
        if len(row) == 4 and row[1].isdigit()
    ]


async def test_scan_tcp_gateway_finds_the_mc10(shop: SimProcess, tmp_path: Path) -> None:
    port = shop.tcp_port(0)
    result = await walkout(
        "scan", "modbus", "--host", "127.0.0.1", "--port", str(port),
        "--units", "1-3", "--timeout", "0.2",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result
    hits = scan_hits(result.stdout)
    by_unit = {int(h["unit"]): h for h in hits}
    assert shop.server(0)["units"] == [1]
    assert by_unit[1] == {"link": f"127.0.0.1:{port}", "unit": "1", "profile": "mc10"}
    # Units 2 and 3 are not behind this gateway: it answers them with exception 0x0B
    # ("gateway target device failed to respond"), which means nobody is there.
    assert sorted(by_unit) == [1], result


async def test_scan_serial_line_finds_the_tx1(shop: SimProcess, tmp_path: Path) -> None:
    pty = shop.pty(1)
    result = await walkout(
        "scan", "modbus", "--serial", pty, "--baud", "9600,19200", "--parity", "N",
        "--units", "1-3", "--timeout", "0.1",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result
    hits = scan_hits(result.stdout)
    assert shop.server(1)["units"] == [2]
    # A pty does not enforce the baud rate, so both settings may answer; silent ids
    # (1 and 3: nobody on the line) are not listed at all.
    assert hits, result
    assert {h["unit"] for h in hits} == {"2"}, result
    assert {h["profile"] for h in hits} == {"tx1"}, result
    assert f"{pty} 19200 8N1" in {h["link"] for h in hits}


async def test_scan_refuses_nonsense_arguments(tmp_path: Path) -> None:
    results = await walkout_all(
        ("scan", "modbus", "--host", "127.0.0.1", "--units", "0-999"),
        ("scan", "modbus", "--host", "127.0.0.1", "--serial", "/dev/ttyUSB0"),
        ("scan", "modbus"),
        ("scan", "modbus", "--serial", "/dev/ttyUSB0", "--parity", "X"),
        cwd=tmp_path,
    )
    expected = [
        "unit ids are 1..247",
        "exactly one of --host or --serial",
        "exactly one of --host or --serial",
        "--parity must be N, E or O",
    ]
    for result, message in zip(results, expected, strict=True):
        assert result.code == 2, result
        assert message in result.stderr, result
        assert "Traceback" not in result.stderr, result
