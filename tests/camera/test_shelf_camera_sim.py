"""The shelf-camera simulator: its recogniser model, its script, its messages via the driver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto

from devices.bus import Bus
from devices.camera.products import ProductsSeen, ProductsSource, SeenProduct
from devices.camera.quality import CameraProblem, CameraStatus, QualityLimits
from sim_devices.jsonlines import JsonLinesClient
from sim_devices.process import SimulatorProcess
from sim_devices.shelf_camera.publisher import (
    Movement,
    ProductsPublisher,
    RecogniserSettings,
    ShelfCameraSimError,
)
from sim_devices.shelf_camera.script import parse_script
from sim_devices.shelf_camera.simulator import ShelfCameraSimulator

from .camtools import wait_status, wait_until

SHELVES = {"cam-a1": "A1"}
SERVE = ("sim_devices.shelf_camera", "serve")


def _recognised(seed: int, settings: RecogniserSettings, n: int = 2000) -> list[object]:
    publisher = ProductsPublisher("cam-a1", "127.0.0.1", 1, settings=settings, seed=seed)
    return [publisher.recognise(Movement("salt", "take")) for _ in range(n)]


def test_the_recogniser_is_seeded_and_errs_at_its_configured_rates() -> None:
    settings = RecogniserSettings(
        accuracy=0.8, miss_rate=0.1, kind_rate=0.5, confusions=("paprika", "beer")
    )
    first = _recognised(7, settings)
    assert first == _recognised(7, settings)  # same seed, same answers
    assert first != _recognised(8, settings)
    reported = [r for r in first if r is not None]
    missed = 1 - len(reported) / len(first)
    right = sum(r["sku"] == "salt" for r in reported) / len(reported)  # type: ignore[index]
    with_kind = sum(r["kind"] == "take" for r in reported) / len(reported)  # type: ignore[index]
    assert missed == pytest.approx(0.1, abs=0.03)
    assert right == pytest.approx(0.8, abs=0.03)
    assert with_kind == pytest.approx(0.5, abs=0.04)
    wrong = {r["sku"] for r in reported} - {"salt"}  # type: ignore[index]
    assert wrong == {"paprika", "beer"}
    assert all(0.01 <= r["confidence"] <= 1.0 for r in reported)  # type: ignore[index]


def test_an_exact_movement_is_published_as_given() -> None:
    settings = RecogniserSettings(accuracy=0.1, miss_rate=1.0, confusions=("beer",))
    publisher = ProductsPublisher("cam-a1", "127.0.0.1", 1, settings=settings)
    exact = Movement("salt", "put", 0.7, exact=True)
    assert publisher.recognise(exact) == {"sku": "salt", "confidence": 0.7, "kind": "put"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"t": 1, "sku": "a"}\nnot json', "script:2: not JSON"),
        ('{"t": 2, "sku": "a"}\n{"t": 1, "sku": "b"}', "script:2: t 1 is before"),
        ('{"sku": "a"}', "script:1: t must be a number"),
        ('{"t": 1, "sku": ""}', "script:1: sku must be a non-empty string"),
        ('{"t": 1, "sku": "a", "kind": "drop"}', "script:1: kind must be"),
        ('{"t": 1, "sku": "a", "confidence": 0}', r"script:1: confidence must be within \(0, 1\]"),
        ('{"t": 1, "sku": "a", "hand": 2}', "script:1: unknown key 'hand'"),
        ("[1]", "script:1: expected a JSON object"),
    ],
)
def test_a_bad_script_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ShelfCameraSimError, match=message):
        parse_script(text)


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ShelfCameraSimError, match="accuracy"):
        RecogniserSettings(accuracy=1.5).validate()
    with pytest.raises(ShelfCameraSimError, match="mode 'loud'"):
        RecogniserSettings(mode="loud").validate()


async def test_a_script_reaches_the_driver_in_order(mosquitto: Mosquitto) -> None:
    script = parse_script(
        "# two takes and a put, the recogniser always right\n"
        '{"t": 0.0, "sku": "salt", "kind": "take"}\n'
        '{"t": 0.05, "sku": "paprika", "kind": "take", "confidence": 0.8}\n'
        '{"t": 0.1, "sku": "salt", "kind": "put"}\n'
    )
    settings = RecogniserSettings(accuracy=1.0, confidence_noise=0.0)
    bus = Bus()
    async with ProductsSource(
        "shelfcams", "127.0.0.1", mosquitto.port, shelves=SHELVES, bus=bus
    ) as source:
        await source.wait_connected(10)
        async with ShelfCameraSimulator(
            "cam-a1", "127.0.0.1", mosquitto.port, settings=settings, script=script
        ) as sim:
            got = [await source.read() for _ in range(3)]
            assert sim.script_done.is_set()
    assert [m.sightings for m in got] == [
        (SeenProduct("salt", 1.0, "take"),),
        (SeenProduct("paprika", 0.8, "take"),),
        (SeenProduct("salt", 1.0, "put"),),
    ]
    assert all(m.shelf_id == "A1" and m.source == "cam-a1" for m in got)
    assert source.stats.bad_json + source.stats.bad_schema == 0


async def test_the_served_simulator_and_its_faults_through_the_driver(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """``serve`` in its own process, driven by its control port; each fault seen by the driver."""
    bus = Bus()
    statuses = bus.subscribe(CameraStatus)
    limits = QualityLimits(stall_after_s=1.0, min_fps=None, black_luma=None, frozen_diff=None)
    args = ["--camera-id", "cam-a1", "--mqtt-port", str(mosquitto.port), "--heartbeat-s", "0.2"]
    args += ["--seed", "3", "--accuracy", "0.9", "--confuse-with", "paprika"]
    async with (
        ProductsSource(
            "shelfcams", "127.0.0.1", mosquitto.port, shelves=SHELVES, bus=bus, limits=limits
        ) as source,
        SimulatorProcess(command=SERVE, args=args) as sim,
        JsonLinesClient(sim.ready["control_port"]) as control,
    ):
        assert sim.ready["mqtt"]["topic"] == "walkout/cameras/cam-a1/products"
        await source.wait_connected(10)
        await wait_status(statuses, lambda s: s.problems == (), what="heartbeats arrive")

        answer = await control.raw({"cmd": "movement", "sku": "salt", "kind": "take"})
        reported = answer["reported"]
        message = await _next_with_sightings(source)
        assert message.sightings == (
            SeenProduct(reported["sku"], reported["confidence"], reported["kind"]),
        )
        for mode, counter in (
            ("garbage", "bad_json"),
            ("bad_schema", "bad_schema"),
            ("oversize", "oversize"),
        ):
            assert (await control.raw({"cmd": "fault", "mode": mode}))["ok"]
            await wait_until(_counted(source, counter), what=mode)
        assert (await control.raw({"cmd": "fault", "mode": "silent"}))["ok"]
        await wait_status(statuses, lambda s: CameraProblem.STALLED in s.problems, what="stall")
        assert (await control.raw({"cmd": "fault", "mode": "normal"}))["ok"]
        await wait_status(statuses, lambda s: s.problems == (), what="back")
        exact = {"cmd": "movement", "sku": "salt", "kind": "put", "confidence": 0.6, "exact": True}
        assert (await control.raw(exact))["reported"]["sku"] == "salt"
        message = await _next_with_sightings(source)
        assert message.sightings == (SeenProduct("salt", 0.6, "put"),)
        stats = (await control.raw({"cmd": "stats"}))["stats"]
        bad = await control.raw({"cmd": "movement", "sku": "salt", "kind": "sideways"})
        assert not bad["ok"]
    assert stats["movements"] == 2
    assert stats["faulty"] >= 3
    assert source.stats.accepted >= 3  # heartbeats and the two movements


def _counted(source: ProductsSource, counter: str) -> Callable[[], bool]:
    return lambda: bool(getattr(source.stats, counter) >= 1)


async def _next_with_sightings(source: ProductsSource) -> ProductsSeen:
    while True:
        message = await source.read()
        if message.sightings:
            return message
