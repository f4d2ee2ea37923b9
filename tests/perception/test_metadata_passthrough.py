from __future__ import annotations

from collections.abc import AsyncIterator

from devices.bus import Bus
from devices.camera.detection import Detection, PersonDetections
from vision_core.perception.config import MetadataConfig
from vision_core.perception.metadata import MetadataPassthrough


def _message(camera: str, scores: list[float]) -> PersonDetections:
    people = tuple(
        Detection(camera, 5.0, (10.0 * i, 0.0, 10.0 * i + 5, 20.0), s, track_id=i)
        for i, s in enumerate(scores)
    )
    return PersonDetections(
        source=camera, t_mono=5.0, camera_id=camera, detections=people, frame=3, width=640
    )


def test_low_scores_removed_rest_kept_as_sent() -> None:
    passthrough = MetadataPassthrough(MetadataConfig(min_score=0.5))
    message = _message("c1", [0.9, 0.2, 0.6])
    out = passthrough.accept(message)
    assert out is not None
    assert [d.score for d in out.detections] == [0.9, 0.6]
    assert [d.track_id for d in out.detections] == [0, 2]
    assert (out.frame, out.width, out.camera_id) == (3, 640, "c1")
    untouched = _message("c1", [0.9])
    assert passthrough.accept(untouched) is untouched


def test_unselected_camera_ignored() -> None:
    passthrough = MetadataPassthrough(MetadataConfig(cameras=("c1",)))
    assert passthrough.accept(_message("c2", [0.9])) is None
    assert passthrough.accept(_message("c1", [0.9])) is not None
    assert (passthrough.passed, passthrough.ignored) == (1, 1)


async def test_run_publishes_accepted_messages() -> None:
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    sent = [_message("c1", [0.9]), _message("c2", [0.9]), _message("c1", [0.1])]

    async def source() -> AsyncIterator[PersonDetections]:
        for message in sent:
            yield message

    await MetadataPassthrough(MetadataConfig(cameras=("c1",), min_score=0.5)).run(source(), bus)
    first = sub.get_nowait()
    second = sub.get_nowait()
    assert sub.get_nowait() is None
    assert isinstance(first, PersonDetections)
    assert isinstance(second, PersonDetections)
    assert first is sent[0]
    assert second.detections == ()
