"""The hand-made run in real time with its tracks from two overlapping smart cameras.

Weights and gates come over Modbus as in ``test_hil``; the shoppers are
scripted onto two top-down smart-camera simulators that share a metre of
floor between the shelves (the run's 8 m do not fit one camera's 4.75 m
share), with box jitter and missed detections. Their detections go over
MQTT through the runtime's vision path (metadata, floor projection, fusion
across the cameras) to the track sessions. Both shoppers walk through the
overlap, so each is seen by both cameras and must still be one track,
bound at the entry (left camera) and counted out at the exit (right
camera) a frame after the passage. About a minute of real time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from walkout.store_hil import run_hil
from walkout.store_hil_cameras import CameraSetup

from .tiny import TRUE_RECEIPTS, tiny_run


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_hil_with_two_noisy_cameras_fuses_each_shopper_into_one_track_with_a_receipt(
    tmp_path: Path,
) -> None:
    run = tiny_run()
    setup = CameraSetup(box_noise_px=3.0, miss_rate=0.02, seed=5)
    result = await run_hil(run, tmp_path, cameras=True, camera_setup=setup)

    # the tracks came from the camera path: no track record was fed
    assert result.track_records == 0
    assert [c.camera_id for c in result.cameras] == ["cam-0-0", "cam-0-1"]
    left, right = result.cameras
    assert left.origin_m[0] < right.origin_m[0] < left.origin_m[0] + left.floor_m[0]  # overlap
    assert set(result.camera_messages) == {"cam-0-0", "cam-0-1"}
    assert min(result.camera_messages.values()) > 300, result.camera_messages  # 10 Hz, ~45 s
    # the detections were not clean: each camera missed some
    assert all(s["misses"] > 0 for s in result.camera_sims.values()), result.camera_sims

    camera = result.camera
    assert camera["observations"] > 0, camera
    # one shopper track per person although both were seen by both cameras
    assert result.camera_people == 2
    assert camera["tracks_started"] == 2, camera
    assert camera["merged_shoppers"] == 2, camera

    # both shoppers' fused tracks were bound at the entry and counted out at the exit
    assert result.outcome.binding == {"bound": 2}, result.outcome.binding

    receipts = result.outcome.receipts
    assert set(receipts) == set(TRUE_RECEIPTS)  # every session got a receipt
    assert result.outcome.unclosed == []
    assert not any(r.review for r in receipts.values())
    assert {ref: dict(r.lines) for ref, r in receipts.items()} == TRUE_RECEIPTS
    assert result.breakdown == {"ok": 4}
    assert (result.scores.event_precision, result.scores.event_recall) == (1.0, 1.0)
