"""The hand-made run in real time with its tracks from a smart camera, not from records.

Weights and gates come over Modbus as in ``test_hil``; the shoppers are
scripted onto a top-down smart-camera simulator, whose detections go over
MQTT through the runtime's vision path (metadata, floor projection, fusion)
to the track sessions. About a minute of real time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from walkout.store_hil import run_hil

from .tiny import TRUE_RECEIPTS, tiny_run


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_hil_with_a_camera_tracks_the_shoppers_and_gives_every_session_a_receipt(
    tmp_path: Path,
) -> None:
    run = tiny_run()
    result = await run_hil(run, tmp_path, cameras=True)

    # the tracks came from the camera path: no track record was fed
    assert result.track_records == 0
    camera = result.camera
    assert camera["messages"] > 300, camera  # 10 Hz for ~45 s
    assert camera["observations"] > 0, camera
    assert camera["samples"] > 0, camera

    # both shoppers' camera tracks were bound at the entry and counted out at the exit
    assert result.outcome.binding == {"bound": 2}, result.outcome.binding

    receipts = result.outcome.receipts
    assert set(receipts) == set(TRUE_RECEIPTS)  # every session got a receipt
    assert result.outcome.unclosed == []
    assert not any(r.review for r in receipts.values())
    assert {ref: dict(r.lines) for ref, r in receipts.items()} == TRUE_RECEIPTS
    assert result.breakdown == {"ok": 4}
    assert (result.scores.event_precision, result.scores.event_recall) == (1.0, 1.0)
