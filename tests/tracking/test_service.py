"""The live tracking service on a bus: detections and gate events in, bound tracks and exits out.

The camera looks straight down: pixel (x, y) is floor (x / 100, y / 100) metres.
The entry gate is at (1, 0.5), the exit at (9, 0.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import numpy as np
import pytest
from peers.waiting import next_message, wait_until

from devices.bus import Bus, Message, Subscription
from devices.camera.config import FloorHomography
from devices.camera.detection import Detection, PersonDetections
from devices.gate.machine import Entered, Exited
from vision_core.checkout.messages import TrackSample
from vision_core.tracking.binding import EntryGate
from vision_core.tracking.floor import CameraGeometry, FloorProjector
from vision_core.tracking.service import ShopperTrackingService
from vision_core.tracking.sessions import TrackSessions

CAMERA = "ceiling-1"
TOP_DOWN = FloorHomography.from_matrix([[0.01, 0, 0], [0, 0.01, 0], [0, 0, 1]])
WAIT_S = 5.0


def people(
    t: float,
    *where: tuple[float, float],
    ids: Iterable[int | None] = (),
    looks: Iterable[tuple[float, ...]] = (),
) -> PersonDetections:
    """Everyone at floor points ``where`` (metres), as a 40 x 120 px box standing there.

    ``looks``: each one's appearance embedding, in the same order (none if empty).
    """
    track_ids = list(ids) or [None] * len(where)
    embeddings = list(looks) or [()] * len(where)
    detections = tuple(
        Detection(
            CAMERA,
            t,
            (x * 100 - 20, y * 100 - 120, x * 100 + 20, y * 100),
            0.9,
            track_id,
            embedding=embedding,
        )
        for (x, y), track_id, embedding in zip(where, track_ids, embeddings, strict=True)
    )
    return PersonDetections(source=CAMERA, t_mono=t, camera_id=CAMERA, detections=detections)


@pytest.fixture
async def service() -> AsyncIterator[tuple[ShopperTrackingService, Subscription]]:
    bus = Bus()
    out = bus.subscribe(TrackSample, Exited, maxsize=10_000)
    projector = FloorProjector({CAMERA: CameraGeometry(TOP_DOWN)})
    sessions = TrackSessions([EntryGate("gate-in", (1.0, 0.5))], {"gate-out": (9.0, 0.5)})
    tracking = ShopperTrackingService(bus, projector, sessions, tick_s=0.05)
    task = asyncio.create_task(tracking.run())
    await asyncio.wait_for(tracking.ready.wait(), WAIT_S)
    try:
        yield tracking, out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        out.close()


async def walk(bus: Bus, start_t: float, path: list[tuple[float, float]], ids=()) -> float:
    t = start_t
    for point in path:
        await bus.publish(people(t, point, ids=ids))
        t += 1 / 15
    return t


async def test_a_shopper_is_bound_at_the_entry_and_their_exit_closes_their_session(service):
    tracking, out = service
    bus = tracking.bus
    await bus.publish(
        Entered(
            source="gate-in", t_mono=100.0, session_id="s-1", credential="c", person=1,
            group_size=1,
        )
    )  # fmt: skip
    # in through the entry, along the aisle, out at the exit (ByteTrack gives the ids)
    path = [(1.0 + 0.1 * i, 0.6) for i in range(81)]
    end_t = await walk(bus, 100.1, path)
    bound = await next_message(out, TrackSample, lambda m: m.session_id == "s-1", WAIT_S)
    assert bound.track_id.startswith("shopper-")
    assert tracking.counts["unknown_camera"] == 0
    # the person leaves the cameras at the exit; the gate says someone went out
    await bus.publish(Exited(source="gate-out", t_mono=end_t + 0.1))
    exited = await next_message(out, Exited, lambda m: m.session_id is not None, WAIT_S)
    assert exited.session_id == "s-1"
    assert exited.t_mono == pytest.approx(end_t + 0.1)
    assert exited.source == "gate-out"


async def test_an_exit_nobody_was_seen_at_closes_no_session(service):
    tracking, out = service
    bus = tracking.bus
    await bus.publish(
        Entered(
            source="gate-in", t_mono=10.0, session_id="s-2", credential="c", person=1,
            group_size=1,
        )
    )  # fmt: skip
    # a shopper still in the middle of the store, seen on, while the exit gate counts a passage
    t = await walk(bus, 10.1, [(1.0 + 0.1 * i, 0.6) for i in range(30)], ids=[7])
    await next_message(out, TrackSample, lambda m: m.session_id == "s-2", WAIT_S)
    await bus.publish(Exited(source="gate-out", t_mono=t))
    await walk(bus, t + 0.05, [(4.0, 0.6)] * 20, ids=[7])
    await wait_until(
        lambda: tracking.sessions.counts["exit_unbound"] == 1, what="the exit decided unbound"
    )
    while (message := out.get_nowait()) is not None:
        assert not (isinstance(message, Exited) and message.session_id is not None)


async def test_a_camera_without_homography_is_counted_not_fatal(service):
    tracking, _ = service
    await tracking.feed(
        PersonDetections(
            source="nowhere", t_mono=1.0, camera_id="nowhere",
            detections=(Detection("nowhere", 1.0, (0, 0, 10, 30), 0.9, 1),),
        )
    )  # fmt: skip
    await tracking.feed(Exited(source="not-a-gate", t_mono=1.1))
    assert tracking.counts["unknown_camera"] == 1
    assert tracking.counts["refused"] == 1


def entered(session: str, t: float) -> Entered:
    return Entered(
        source="gate-in", t_mono=t, session_id=session, credential="c", person=1, group_size=1
    )


@pytest.mark.parametrize("with_looks", [True, False], ids=["embeddings", "no-embeddings"])
async def test_a_camera_swapping_two_shoppers_ids_is_caught_by_their_embeddings(
    service, with_looks
):
    """Alice and Bob come in one after the other and stand side by side at a shelf; then
    the smart camera swaps their track ids. Their embeddings (sent with every box) make
    each shopper track follow its person's session under a new published id."""
    tracking, out = service
    rng = np.random.default_rng(4)
    alice, bob = np.linalg.qr(rng.normal(size=(16, 2)))[0].T  # nothing alike

    def look(who: np.ndarray) -> tuple[float, ...]:
        noisy = who + rng.normal(0.0, 0.1, who.size)
        return tuple((3.0 * noisy).tolist()) if with_looks else ()  # any scale will do

    alice_shelf, bob_shelf = (4.0, 2.0), (4.5, 2.0)
    frames: list[Message] = [entered("S-alice", 10.0)]
    t = 10.1
    for k in range(45):  # Alice walks in from the gate to the shelf
        at = (1.0 + 3.0 * k / 44, 0.6 + 1.4 * k / 44)
        frames.append(people(t, at, ids=[1], looks=[look(alice)]))
        t += 1 / 15
    for _ in range(40):  # and waits there
        frames.append(people(t, alice_shelf, ids=[1], looks=[look(alice)]))
        t += 1 / 15
    frames.append(entered("S-bob", t - 0.1))
    for k in range(45):  # Bob walks in to the shelf next to her
        at = (1.0 + 3.5 * k / 44, 0.6 + 1.4 * k / 44)
        frames.append(people(t, alice_shelf, at, ids=[1, 2], looks=[look(alice), look(bob)]))
        t += 1 / 15
    for _ in range(30):  # both at the shelf
        frames.append(people(t, alice_shelf, bob_shelf, ids=[1, 2], looks=[look(alice), look(bob)]))
        t += 1 / 15
    swap_t = t
    for _ in range(30):  # the camera swapped their ids
        frames.append(people(t, alice_shelf, bob_shelf, ids=[2, 1], looks=[look(alice), look(bob)]))
        t += 1 / 15
    for message in frames:
        await tracking.feed(message)
    published = []
    while (message := out.get_nowait()) is not None:
        if isinstance(message, TrackSample):
            published.append((message.t_mono, message.track_id, message.session_id))
    assert tracking.counts["refused"] == 0
    before = {(track, session) for at, track, session in published if at < swap_t}
    bound_later = {("shopper-1", None), ("shopper-2", None)}  # until the binder decides
    assert before == {("shopper-1", "S-alice"), ("shopper-2", "S-bob")} | bound_later
    settled = swap_t + 4 / 15  # a window of 3 samples of the other person, and one more
    after = {(track, session) for at, track, session in published if at >= settled}
    if with_looks:
        assert tracking.sessions.counts["reid_moved"] == 2
        # each track follows its person now: the published id says it is not the same one
        assert after == {("shopper-1~1", "S-bob"), ("shopper-2~1", "S-alice")}
    else:
        # positions alone cannot tell: the sessions follow the ids, onto the wrong people
        assert tracking.sessions.counts["reid_moved"] == 0
        assert after == {("shopper-1", "S-alice"), ("shopper-2", "S-bob")}
