import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim_devices.cli import main as sim_main
from sim_devices.clock import ManualClock
from sim_devices.store_sim import Record, parse_store_scenario, play_realtime, replay, simulate
from sim_devices.store_sim.jsonl import read_stream, read_truth, write_stream, write_truth


@pytest.fixture
def short(small: dict[str, Any]) -> dict[str, Any]:
    small["duration_s"] = 90
    return small


def test_jsonl_round_trip(short: dict[str, Any], tmp_path: Path) -> None:
    run = simulate(parse_store_scenario(short))
    assert write_stream(tmp_path / "s.jsonl", run.records) == len(run.records)
    assert list(read_stream(tmp_path / "s.jsonl")) == run.records
    write_truth(tmp_path / "t.jsonl", run.truth)
    assert read_truth(tmp_path / "t.jsonl") == run.truth


def test_bad_stream_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"type": "gate"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"s\.jsonl:1"):
        list(read_stream(path))


def test_replay_stops_at_until(short: dict[str, Any]) -> None:
    run = simulate(parse_store_scenario(short))
    early = list(replay(run.records, until_t=30.0))
    assert early == [r for r in run.records if r.t < 30.0]
    assert 0 < len(early) < len(run.records)


async def test_realtime_hands_records_over_on_time(short: dict[str, Any]) -> None:
    records = simulate(parse_store_scenario(short)).records[:200]
    clock = ManualClock(500.0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds * 4)  # an accelerated clock: 4 clock seconds per real second
        await asyncio.sleep(0)

    seen: list[tuple[float, Record]] = []

    async def sink(record: Record) -> None:
        seen.append((clock() - 500.0, record))

    count = await play_realtime(records, sink, clock=clock, sleep=sleep, speed=4.0)
    assert count == len(records) == len(seen)
    assert [r for _, r in seen] == records
    assert all(at >= r.t - 1e-6 for at, r in seen)
    assert all(at - r.t < 1e-6 for at, r in seen)  # never late with a punctual clock
    assert sum(slept) == pytest.approx(records[-1].t / 4)


async def test_realtime_refuses_bad_speed() -> None:
    async def sink(record: Record) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="speed"):
        await play_realtime([], sink, clock=ManualClock(), speed=0)


def test_cli_generate_and_score(
    short: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(yaml.safe_dump(short), encoding="utf-8")
    out = tmp_path / "out"
    assert sim_main(["store", "generate", "--scenario", str(scenario), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    truth = read_truth(out / "truth.jsonl")
    assert summary["sessions"] == len(truth.sessions) > 0
    assert summary["records"] == sum(1 for _ in (out / "stream.jsonl").open())
    # receipts: every session exact and settled 2 s after its exit
    receipts = out / "receipts.jsonl"
    receipts.write_text(
        "".join(
            json.dumps(
                {"session": s.session_ref, "lines": dict(s.receipt), "settled_t": s.exit_t + 2}
            )
            + "\n"
            for s in truth.sessions
        ),
        encoding="utf-8",
    )
    report = tmp_path / "report"
    argv = ["store", "score", "--truth", str(out / "truth.jsonl"), "--receipts", str(receipts)]
    assert sim_main([*argv, "--report", str(report), "--cpu-s", "1.0"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["receipt_accuracy"] == 1.0
    assert answer["latency_p95_s"] == pytest.approx(2.0)
    assert (report / "occupancy.png").exists()
    assert "| receipt accuracy | 100.00 % |" in (report / "report.md").read_text(encoding="utf-8")


def test_cli_bad_scenario_names_the_key(
    small: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small["behaviour"]["crowdin"] = 0.5
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(yaml.safe_dump(small), encoding="utf-8")
    assert sim_main(["store", "generate", "--scenario", str(scenario), "--out", str(tmp_path)]) == 2
    assert "behaviour.crowdin: unknown key" in capsys.readouterr().err
