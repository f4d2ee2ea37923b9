"""The actuator's scheduling and reporting, on port doubles that block, fail or record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from devices.bus import Bus
from devices.esl.backend import TagBackend
from devices.esl.fleet import EslFleet
from devices.esl.model import PushOutcome, TagContent, TagMode, TagPushResult
from facility.actuation import Actuator, ScreenResult
from facility.actuation.adapters import EslScreenControl
from facility.supervisor import (
    FlushLedger,
    SetCameras,
    SetEntry,
    SetScreens,
    ShutdownHost,
    StoreMode,
)

from .conftest import Entry, Outcomes, running, stop

MODE = StoreMode.CLOSING


class HangingCameras:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cancelled = False

    async def set_profile(self, profile: str) -> str | None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return profile


class Cameras:
    def __init__(self, reads: str | None) -> None:
        self.reads = reads
        self.asked: list[str] = []

    async def set_profile(self, profile: str) -> str | None:
        self.asked.append(profile)
        return self.reads


class Ledger:
    def __init__(self, error: Exception | None = None) -> None:
        self.flushes = 0
        self.error = error

    async def flush(self) -> None:
        self.flushes += 1
        if self.error is not None:
            raise self.error


def entry_req(locked: bool) -> SetEntry:
    return SetEntry(source="supervisor", t_mono=0.0, mode=MODE, locked=locked)


async def test_a_hanging_port_times_out_without_delaying_the_others(
    bus: Bus, outcomes: Outcomes
) -> None:
    cameras, entry, ledger = HangingCameras(), Entry(), Ledger()
    actuator = Actuator(bus, cameras=cameras, entry=entry, ledger=ledger, timeout_s=0.5)
    task = await running(actuator)
    try:
        await bus.publish(
            SetCameras(source="supervisor", t_mono=0.0, mode=MODE, profile="checkout_low_fps")
        )
        await bus.publish(entry_req(True))
        await bus.publish(FlushLedger(source="supervisor", t_mono=0.0, mode=MODE))
        locked = await outcomes.next("set_entry")
        flushed = await outcomes.next("flush_ledger")
        assert cameras.entered.is_set()
        assert not cameras.cancelled  # still hanging while the others finished
        assert locked.ok
        assert flushed.ok
        assert locked.duration_s < 0.5
        timed_out = await outcomes.next("set_cameras")
    finally:
        await stop(task)
    assert not timed_out.ok
    assert timed_out.detail == "no answer within 0.5 s"
    assert timed_out.duration_s >= 0.5
    assert cameras.cancelled
    assert [o.kind for o in outcomes.seen] == ["set_entry", "flush_ledger", "set_cameras"]
    assert entry.locked
    assert ledger.flushes == 1


async def test_one_kind_is_applied_in_order_and_stale_requests_are_skipped(
    bus: Bus, outcomes: Outcomes
) -> None:
    entry = Entry()
    entry.hold = release = asyncio.Event()
    task = await running(Actuator(bus, entry=entry))
    try:
        await bus.publish(entry_req(True))
        async with asyncio.timeout(5):
            await entry.entered.wait()  # the first is under way and held
        await bus.publish(entry_req(False))
        await bus.publish(entry_req(True))
        release.set()
        first = await outcomes.next("set_entry")
        second = await outcomes.next("set_entry")
        third = await outcomes.next("set_entry")
    finally:
        await stop(task)
    assert entry.calls == [True, True]  # the unlock in between was never applied
    assert first.ok
    assert first.verified
    assert second.ok
    assert not second.verified
    assert second.detail.startswith("superseded by a newer set_entry request")
    assert third.ok
    assert third.verified
    assert entry.locked


async def test_a_later_request_waits_for_the_earlier_one(bus: Bus, outcomes: Outcomes) -> None:
    entry = Entry()
    entry.hold = release = asyncio.Event()
    task = await running(Actuator(bus, entry=entry))
    try:
        await bus.publish(entry_req(True))
        async with asyncio.timeout(5):
            await entry.entered.wait()
        await bus.publish(entry_req(False))
        release.set()
        first = await outcomes.next("set_entry")
        second = await outcomes.next("set_entry")
    finally:
        await stop(task)
    assert entry.calls == [True, False]
    assert first.verified
    assert second.verified
    assert entry.locked is False


async def test_absent_equipment_is_nothing_to_do_but_a_failing_port_or_no_shutdown_fails(
    bus: Bus,
) -> None:
    actuator = Actuator(bus, ledger=Ledger(OSError(28, "No space left on device")))
    no_gate = await actuator.execute(entry_req(True))
    assert (no_gate.ok, no_gate.verified) == (True, False)
    assert no_gate.detail == "no gates in this store"
    flush = await actuator.execute(FlushLedger(source="supervisor", t_mono=0.0, mode=MODE))
    assert not flush.ok
    assert flush.detail == "OSError: [Errno 28] No space left on device"
    shutdown = await actuator.execute(
        ShutdownHost(source="supervisor", t_mono=0.0, mode=MODE, after_s=0.0)
    )
    assert not shutdown.ok
    assert shutdown.detail == "no host shutdown command configured"


async def test_camera_profile_read_back(bus: Bus) -> None:
    right = await Actuator(bus, cameras=Cameras("off")).execute(
        SetCameras(source="supervisor", t_mono=0.0, mode=MODE, profile="off")
    )
    assert (right.ok, right.verified) == (True, True)
    wrong = await Actuator(bus, cameras=Cameras("all")).execute(
        SetCameras(source="supervisor", t_mono=0.0, mode=MODE, profile="off")
    )
    assert (wrong.ok, wrong.verified) == (False, False)
    assert wrong.detail == "cameras off asked, profile reads all"
    blind = await Actuator(bus, cameras=Cameras(None)).execute(
        SetCameras(source="supervisor", t_mono=0.0, mode=MODE, profile="off")
    )
    assert (blind.ok, blind.verified) == (True, False)


class Tags(TagBackend):
    """Three tags; ``t2`` never acks a mode change."""

    name = "tags"

    def __init__(self) -> None:
        self.modes: dict[str, TagMode] = {}

    async def push_content(
        self, tag_id: str, content: TagContent, mode: TagMode = TagMode.NORMAL
    ) -> TagPushResult:
        raise NotImplementedError

    async def set_mode(self, tag_id: str, mode: TagMode) -> TagPushResult:
        outcome = PushOutcome.TIMEOUT if tag_id == "t2" else PushOutcome.ACKED
        if outcome is PushOutcome.ACKED:
            self.modes[tag_id] = mode
        return TagPushResult(source=self.name, t_mono=0.0, tag_id=tag_id, outcome=outcome)

    async def show_message(self, tag_id: str, text: str, duration_s: float) -> TagPushResult:
        raise NotImplementedError

    def known_tags(self) -> Sequence[str]:
        return ["t1", "t2", "t3"]


async def test_screens_off_dims_the_tags_and_names_those_that_did_not_confirm(bus: Bus) -> None:
    tags = Tags()
    screens = EslScreenControl(EslFleet(tags))
    assert await screens.set_screens("static") == ScreenResult(2, 1, ("t2",))
    assert tags.modes == {"t1": TagMode.NO_ANIMATIONS, "t3": TagMode.NO_ANIMATIONS}
    outcome = await Actuator(bus, screens=screens).execute(
        SetScreens(source="supervisor", t_mono=0.0, mode=MODE, screens="off")
    )
    assert tags.modes == {"t1": TagMode.DIMMED, "t3": TagMode.DIMMED}
    assert not outcome.ok
    assert outcome.failed == ("t2",)
    assert outcome.detail == "screens off: 1 of 3 did not confirm: t2"
