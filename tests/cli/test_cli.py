"""The real ``walkout`` CLI, as a child process, against the simulator in another one.

validate, probe and dump (scan, scale and calibrate have files of their own). Expected
values come from the simulator's control API (what it says its units hold) and from the
register maps of the manuals (mc10 float32 ABCD, tx1 int32 x 0.1 g), never from walkout.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
import yaml

from .clitools import (
    MC10_FIRMWARE,
    MC10_SERIAL,
    TX1_SERIAL,
    SimProcess,
    StartSim,
    floats,
    store_yaml,
    table_value,
    unit_state,
    walkout,
    walkout_all,
)

FIXTURE_FORMAT = "walkout-modbus-fixture/1"
SHOWN_G = 0.0051
"""probe shows weights to 0.01 g."""


def problem_paths(stderr: str) -> set[str]:
    """Key paths of the problems ``walkout validate`` lists (``  <path>: <message>``)."""
    return set(re.findall(r"^  (\S.*?): ", stderr, re.MULTILINE))


def words(text: str) -> str:
    """``text`` with every run of whitespace as one space (rich wraps table titles)."""
    return " ".join(text.split())


def bit_mask(flags: list[bool]) -> int:
    return sum(int(f) << i for i, f in enumerate(flags))


# --- validate -------------------------------------------------------------------------------


async def test_validate_accepts_a_good_file_and_names_every_bad_key(tmp_path: Path) -> None:
    good = store_yaml(tmp_path / "good.yaml", tcp_port=15020, pty="/dev/ttyUSB0")
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["shelves"][0]["colour"] = "red"  # unknown key
    data["shelves"][0]["rate_hz"] = "fast"  # wrong type
    data["modbus"]["buses"][0]["port"] = "five-oh-two"  # wrong type
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    ok, refused = await walkout_all(("validate", str(good)), ("validate", str(bad)), cwd=tmp_path)

    assert ok.code == 0, ok
    assert ok.stdout.startswith("ok "), ok
    assert "test-store" in ok.stdout
    assert re.search(r"2 bus\(es\), 2 unit\(s\), 2 shel\(f/ves\), 5 load cell\(s\)", ok.stdout)
    assert refused.code == 2, refused
    assert "ok" not in refused.stdout
    assert "3 problem(s)" in refused.stderr
    assert problem_paths(refused.stderr) == {
        "shelves[0] (id=A1).colour",
        "shelves[0] (id=A1).rate_hz",
        "modbus.buses[0] (id=gw-1).port",
    }, refused
    assert "Traceback" not in refused.stderr


# --- probe ----------------------------------------------------------------------------------


async def test_probe_shows_what_the_units_hold(shop: SimProcess, tmp_path: Path) -> None:
    store = store_yaml(tmp_path / "store.yaml", tcp_port=shop.tcp_port(0), pty=shop.pty(1))
    mc, tx = await walkout_all(
        ("probe", "sc-01", "-c", str(store)), ("probe", "tx-02", "-c", str(store)), cwd=tmp_path
    )
    mc10 = await unit_state(shop, server=0, unit=1)
    tx1 = await unit_state(shop, server=1, unit=2)

    assert mc.code == 0, mc
    assert f"sc-01 at 127.0.0.1:{shop.tcp_port(0)} unit 1 (mc10)" in words(mc.stdout)
    weights = floats(table_value(mc.stdout, "weight"))
    assert len(weights) == 10  # every cell the profile maps; the unit has 4
    assert weights[:4] == pytest.approx(mc10["weights_g"], abs=SHOWN_G)
    assert weights[4:] == [0.0] * 6
    assert int(table_value(mc.stdout, "cell_count")) == mc10["cells"] == 4
    assert int(table_value(mc.stdout, "stable_mask")) == bit_mask(mc10["stable"]) == 0b1111
    assert int(table_value(mc.stdout, "overload_mask")) == bit_mask(mc10["overload"]) == 0
    assert int(table_value(mc.stdout, "firmware")) == MC10_FIRMWARE
    assert int(table_value(mc.stdout, "serial_number")) == mc10["serial_number"] == MC10_SERIAL
    assert floats(table_value(mc.stdout, "stable"))[:4] == [1.0] * 4
    assert re.search(r"weight read in \d+\.\d ms", mc.stdout)

    assert tx.code == 0, tx
    assert f"tx-02 at {shop.pty(1)} unit 2 (tx1)" in words(tx.stdout)
    # int32 in 0.1 g: the register resolution bounds the agreement
    assert float(table_value(tx.stdout, "weight")) == pytest.approx(tx1["weights_g"][0], abs=0.051)
    assert tx1["weights_g"][0] == pytest.approx(250.0)
    assert int(table_value(tx.stdout, "serial_number")) == tx1["serial_number"] == TX1_SERIAL
    assert (
        int(table_value(tx.stdout, "status"))
        == int(tx1["stable"][0]) | int(tx1["overload"][0]) << 1
    )


async def test_probe_of_a_unit_nobody_answers_for(tmp_path: Path, free_tcp_port: int) -> None:
    missing_pty = tmp_path / "ttyNOBODY"
    store = store_yaml(tmp_path / "store.yaml", tcp_port=free_tcp_port, pty=str(missing_pty))
    tcp_down, rtu_down, unknown = await walkout_all(
        ("probe", "sc-01", "-c", str(store)),
        ("probe", "tx-02", "-c", str(store)),
        ("probe", "sc-99", "-c", str(store)),
        cwd=tmp_path,
    )
    assert tcp_down.code == 3, tcp_down
    assert f"127.0.0.1:{free_tcp_port}" in tcp_down.stderr, tcp_down
    assert rtu_down.code == 3, rtu_down
    assert str(missing_pty) in rtu_down.stderr, rtu_down
    assert unknown.code == 2, unknown
    assert "sc-99" in unknown.stderr
    assert "sc-01" in unknown.stderr  # the known ones
    assert "tx-02" in unknown.stderr
    for result in (tcp_down, rtu_down, unknown):
        assert result.stderr.startswith("error: "), result
        assert "Traceback" not in result.stderr, result


# --- dump -----------------------------------------------------------------------------------


async def test_dump_redacts_the_serial_and_the_fixture_replays(
    shop: SimProcess, start_sim: StartSim, tmp_path: Path
) -> None:
    store = store_yaml(tmp_path / "store.yaml", tcp_port=shop.tcp_port(0))
    fixture = tmp_path / "fx.json"
    dumped, probed = await walkout_all(
        ("dump", "sc-01", "-c", str(store), "-o", str(fixture)),
        ("probe", "sc-01", "-c", str(store)),
        cwd=tmp_path,
    )
    assert dumped.code == 0, dumped
    assert probed.code == 0, probed
    assert "serial_number" in dumped.stdout

    doc = json.loads(fixture.read_text(encoding="utf-8"))
    assert doc["format"] == FIXTURE_FORMAT
    assert (doc["profile"], doc["unit_id"], doc["redacted"]) == ("mc10", 1, ["serial_number"])
    holding = {int(a): v for a, v in doc["tables"]["holding"].items()}
    inputs = {int(a): v for a, v in doc["tables"]["input"].items()}
    unit = await unit_state(shop, server=0, unit=1)
    # redacted: holding 200..201 (serial uint32) zeroed, although the unit has a serial
    assert unit["serial_number"] == MC10_SERIAL
    assert holding[200] == holding[201] == 0
    # everything else as the unit holds it (mc10 register map of the manual)
    assert holding[202] == MC10_FIRMWARE
    weight_words = [
        w for g in unit["weights_g"] for w in struct.unpack(">HH", struct.pack(">f", g))
    ]
    assert [inputs[a] for a in range(8)] == weight_words
    assert [inputs[a] for a in range(8, 20)] == [0] * 12  # cells 4..9 the unit does not have
    assert inputs[20] == bit_mask(unit["stable"])
    assert inputs[21] == bit_mask(unit["overload"])
    assert inputs[31] == unit["cells"]

    # A new simulator serves the fixture (path relative to its scenario file) ...
    replay = start_sim(
        {
            "name": "replay",
            "servers": [
                {
                    "kind": "tcp",
                    "host": "127.0.0.1",
                    "port": 0,
                    "units": [{"unit_id": 1, "fixture": fixture.name}],
                }
            ],
        },
        name="replay",
    )
    replay_store = store_yaml(tmp_path / "replay-store.yaml", tcp_port=replay.tcp_port(0))
    again = await walkout("probe", "sc-01", "-c", str(replay_store), cwd=tmp_path)
    # ... and probing it brings the same weights back
    assert again.code == 0, again
    assert table_value(again.stdout, "weight") == table_value(probed.stdout, "weight")
    assert floats(table_value(again.stdout, "weight"))[:4] == pytest.approx(
        unit["weights_g"], abs=SHOWN_G
    )
    assert table_value(again.stdout, "serial_number") == "0"
    assert int(table_value(again.stdout, "firmware")) == MC10_FIRMWARE
