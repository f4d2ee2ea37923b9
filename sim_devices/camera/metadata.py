"""A smart camera's detection metadata, published to MQTT with controllable errors.

Publishes walkout's camera metadata schema (``walkout/cameras/<camera>/detections``,
see ``devices/camera/metadata.py`` in the drivers; this module re-implements
it by hand, as simulators share no code with drivers)::

    {"v": 1, "ts": 1767225600.123, "frame": 1234, "width": 640, "height": 480,
     "people": [{"id": 3, "box": [x1, y1, x2, y2], "score": 0.93,
                 "keypoints": [[x, y, score] x 17, COCO order]}]}

With ``embedding_dim`` set (8 to 512) it publishes version 2 instead: the
same payload with ``"v": 2`` and each person's re-identification vector::

    {"v": 2, "ts": ..., "frame": 1234, "width": 640, "height": 480,
     "people": [{"id": 3, "box": [...], "score": 0.93, "keypoints": [...],
                 "embedding": [0.1234, -0.0567, ...]}]}   (embedding_dim floats)

Each person has a fixed random unit vector drawn from a generator seeded by
the person's scene id alone, so it follows the person, not the published
track id (after a simulated id switch the vector is still the person's: that
is what makes a swap detectable), and the same person looks the same to
every simulated camera. Each frame publishes that vector plus Gaussian noise
of ``embedding_noise`` per dimension, normalised to unit length and rounded
to 4 decimals. The noise is per dimension, as in the store simulator's
``appearance_sigma``, so its effect grows with the length: two frames of one
person have a cosine of about ``1 / (1 + embedding_dim * embedding_noise**2)``
(0.86 at 16 and 0.1, 0.44 at 128 and 0.1), two people about 0.

and, for scoring, the ground truth of the same frame on
``walkout/sim/cameras/<camera>/truth``::

    {"ts": ..., "frame": 1234,
     "people": [{"id": 3, "published_id": 1003, "x_m": 2.41, "y_m": 3.02, "visible": true,
                 "hand_m": [2.6, 2.05]}]}      (null while the arms are down)

Keypoints are fixed fractions of the (jittered) box: a sprite's pose, arms
down, except the wrists. Drawn at the box's fractions, a wrist read back
through the floor homography would land 0.3 to 0.45 m beyond the feet (a
wrist is at hip height, the homography maps the floor), and a runtime that
projects every seen wrist would get two idle "hands" reaching into any
shelf its owner stands in front of. So the wrists are placed the way a
runtime with the camera's mount would read them: at the floor point
beside the feet (``IDLE_HAND_SIDE_M`` to the left and the right along the
floor's x axis) projected through the homography. A person with a hand
point (a scripted reach, see ``scene.py``) has the right wrist (COCO 10)
at that floor point instead. Both are jittered like the box
(``box_noise_px``, from a generator of its own so hands leave the other
draws of a seed as they were), score 0.9; the other 15 points stay as they
are. The runtime reads a wrist's pixel back through the same homography
(``vision_core.tracking.floor``),
so it recovers the hand point to the rounding of the pixels (0.1 px) when
the camera has no mount configured; with a mount it pulls the point
towards the camera to a hand height, which this flat picture does not
model. A hand the camera cannot see (off the image, behind the camera)
gets score 0, as a detector that missed it would send.

Errors a real detector makes: box jitter (Gaussian, ``box_noise_px``),
misses (a person left out of a frame with ``miss_rate``), id switches (with
``id_switch_rate`` per person and frame the person's track id changes to a
new one for good). Faults of the link: ``silent`` (nothing published),
``garbage`` (payloads that are not JSON), ``oversize`` (1 MiB payloads).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

import aiomqtt

from sim_devices.camera.scene import PersonState
from sim_devices.camera.view import CameraView
from sim_devices.mqtt_task import keep_publishing, stop_publishing

log = logging.getLogger(__name__)

METADATA_MODES = ("normal", "silent", "garbage", "oversize")
EMBEDDING_DIMS = (8, 512)
"""Shortest and longest re-identification vector of schema version 2."""

# COCO keypoints as fractions of the box (x from left, y from top): nose, eyes,
# ears, shoulders, elbows, wrists (9 left, 10 right), hips, knees, ankles.
_KEYPOINTS = (
    (0.50, 0.08), (0.45, 0.06), (0.55, 0.06), (0.40, 0.08), (0.60, 0.08),
    (0.30, 0.22), (0.70, 0.22), (0.22, 0.38), (0.78, 0.38), (0.20, 0.52),
    (0.80, 0.52), (0.38, 0.55), (0.62, 0.55), (0.38, 0.77), (0.62, 0.77),
    (0.38, 0.98), (0.62, 0.98),
)  # fmt: skip
LEFT_WRIST, RIGHT_WRIST = 9, 10
"""COCO wrists; a hand point moves the right one."""
IDLE_HAND_SIDE_M = 0.18
"""How far beside the feet an idle (hanging) hand is, on the floor."""
KEYPOINT_SCORE = 0.9


@dataclass
class MetadataSettings:
    """The detector's simulated errors and the link's fault mode."""

    box_noise_px: float = 0.0
    miss_rate: float = 0.0
    id_switch_rate: float = 0.0
    mode: str = "normal"
    keypoints: bool = True
    embedding_dim: int = 0
    """0: schema version 1, no embeddings; 8..512: version 2 with one per person."""
    embedding_noise: float = 0.1
    """Standard deviation of the per-frame noise added to each dimension of a unit vector."""

    def validate(self) -> None:
        """Raise ValueError on out-of-range settings."""
        if self.box_noise_px < 0:
            raise ValueError("box_noise_px must be >= 0")
        for name in ("miss_rate", "id_switch_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.mode not in METADATA_MODES:
            raise ValueError(f"mode must be one of {', '.join(METADATA_MODES)}")
        low, high = EMBEDDING_DIMS
        dim = self.embedding_dim
        if (
            isinstance(dim, bool)
            or not isinstance(dim, int)
            or not (dim == 0 or low <= dim <= high)
        ):
            raise ValueError(
                f"embedding_dim must be 0 (schema version 1) or an integer within {low}..{high},"
                f" got {dim!r}"
            )
        if not (math.isfinite(self.embedding_noise) and self.embedding_noise >= 0):
            raise ValueError(
                f"embedding_noise must be a finite number >= 0, got {self.embedding_noise!r}"
            )


@dataclass
class MetadataStats:
    """Counters of the publisher."""

    published: int = 0
    people: int = 0
    misses: int = 0
    id_switches: int = 0
    faulty: int = 0
    connects: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class MetadataPublisher:
    """Publishes one frame's detections per offered frame, at most ``fps`` a second."""

    def __init__(
        self,
        view: CameraView,
        camera_id: str,
        host: str,
        port: int,
        *,
        fps: float | None = None,
        settings: MetadataSettings | None = None,
        seed: int = 0,
        topic_root: str = "walkout/cameras",
        truth_root: str = "walkout/sim/cameras",
    ) -> None:
        self.view = view
        self.camera_id = camera_id
        self.host = host
        self.port = port
        self.fps = fps
        self.settings = settings or MetadataSettings()
        self.settings.validate()
        self.topic = f"{topic_root}/{camera_id}/detections"
        self.truth_topic = f"{truth_root}/{camera_id}/truth"
        self.stats = MetadataStats()
        self.connected = asyncio.Event()
        self._rng = random.Random(seed)
        # Its own generator, so turning embeddings on leaves a seed's boxes, misses and
        # switches as they were.
        self._embedding_rng = random.Random(f"embedding-noise:{seed}")
        self._hand_rng = random.Random(f"hand-noise:{seed}")  # likewise for scripted hands
        self._directions: dict[tuple[int, int], tuple[float, ...]] = {}
        self._published_ids: dict[int, int] = {}
        self._next_switched_id = 1001
        self._pending: tuple[int, float, tuple[PersonState, ...]] | None = None
        self._wake = asyncio.Event()
        self._last_offer_t: float | None = None
        self._task: asyncio.Task[None] | None = None

    def published_id(self, person_id: int) -> int:
        """The track id the camera reports for a person now."""
        return self._published_ids.get(person_id, person_id)

    def embedding(self, person_id: int) -> list[float]:
        """One frame's re-identification vector of a person (needs ``embedding_dim`` > 0).

        The person's direction depends on the scene id and the length only (not
        on the publisher's seed), so every simulated camera sees the same person
        alike, as cameras of one store sharing one model would.
        """
        dim, sigma = self.settings.embedding_dim, self.settings.embedding_noise
        key = (person_id, dim)
        direction = self._directions.get(key)
        if direction is None:
            draw = random.Random(person_id)
            direction = _unit([draw.gauss(0.0, 1.0) for _ in range(dim)])
            self._directions[key] = direction
        noise = self._embedding_rng
        look = _unit([c + noise.gauss(0.0, sigma) for c in direction])
        return [round(c, 4) for c in look]

    async def start(self) -> None:
        """Start publishing (connects in the background and reconnects)."""
        self._task = asyncio.create_task(self._run(), name=f"sim-metadata:{self.camera_id}")

    async def stop(self) -> None:
        """Stop and disconnect; idempotent."""
        task, self._task = self._task, None
        await stop_publishing(task, log)

    def offer(self, seq: int, wall_ts: float, people: tuple[PersonState, ...], t: float) -> None:
        """A frame was rendered at monotonic ``t``: publish its detections if one is due."""
        last = self._last_offer_t
        if self.fps is not None and last is not None and t - last < 0.9 / self.fps:
            return
        self._last_offer_t = t
        self._pending = (seq, wall_ts, people)
        self._wake.set()

    async def _run(self) -> None:
        await keep_publishing(
            self.host,
            self.port,
            f"walkout-sim-{self.camera_id}",
            self._publish_loop,
            connected=self.connected,
            on_connect=self._connected,
            log=log,
            name="metadata publisher",
        )

    def _connected(self) -> None:
        self.stats.connects += 1

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, None
            if pending is None:
                continue
            mode = self.settings.mode
            if mode == "silent":
                continue
            payload, truth = self.build(*pending)
            if mode == "garbage":
                payload = b'{"v": 1, "frame": oops'
                self.stats.faulty += 1
            elif mode == "oversize":
                payload = b'{"v": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
                self.stats.faulty += 1
            await client.publish(self.topic, payload, qos=0)
            await client.publish(self.truth_topic, truth, qos=0)
            self.stats.published += 1

    def build(
        self, seq: int, wall_ts: float, people: tuple[PersonState, ...]
    ) -> tuple[bytes, bytes]:
        """The detections payload and the truth payload of one frame."""
        settings, rng, view = self.settings, self._rng, self.view
        detections: list[dict[str, Any]] = []
        truth: list[dict[str, Any]] = []
        for person in people:
            box = view.person_box(person.x_m, person.y_m)
            visible = view.visible(box)
            if visible and rng.random() < settings.id_switch_rate:
                self._published_ids[person.id] = self._next_switched_id
                self._next_switched_id += 1
                self.stats.id_switches += 1
            published = self.published_id(person.id)
            truth.append(
                {
                    "id": person.id,
                    "published_id": published,
                    "x_m": round(person.x_m, 4),
                    "y_m": round(person.y_m, 4),
                    "visible": visible,
                    "hand_m": _rounded(person.hand_m),
                }
            )
            if not visible:
                continue
            if rng.random() < settings.miss_rate:
                self.stats.misses += 1
                continue
            noisy = [c + rng.gauss(0.0, settings.box_noise_px) for c in box]
            x1, x2 = sorted((noisy[0], noisy[2]))
            y1, y2 = sorted((noisy[1], noisy[3]))
            x2, y2 = max(x2, x1 + 1.0), max(y2, y1 + 1.0)
            entry: dict[str, Any] = {
                "id": published,
                "box": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)],
                "score": round(0.85 + 0.14 * rng.random(), 3),
            }
            if settings.keypoints:
                w, h = x2 - x1, y2 - y1
                points = [
                    [round(x1 + fx * w, 1), round(y1 + fy * h, 1), KEYPOINT_SCORE]
                    for fx, fy in _KEYPOINTS
                ]
                left = (person.x_m - IDLE_HAND_SIDE_M, person.y_m)
                right = person.hand_m or (person.x_m + IDLE_HAND_SIDE_M, person.y_m)
                points[LEFT_WRIST] = self._wrist(left, points[LEFT_WRIST])
                points[RIGHT_WRIST] = self._wrist(right, points[RIGHT_WRIST])
                entry["keypoints"] = points
            if settings.embedding_dim:
                entry["embedding"] = self.embedding(person.id)
            detections.append(entry)
            self.stats.people += 1
        # Directions are cheap to draw again: keep only those of the people in view.
        present = {(person.id, settings.embedding_dim) for person in people}
        self._directions = {k: v for k, v in self._directions.items() if k in present}
        payload = {
            "v": 2 if settings.embedding_dim else 1,
            "ts": round(wall_ts, 6),
            "frame": seq,
            "width": view.width,
            "height": view.height,
            "people": detections,
        }
        truth_payload = {"ts": round(wall_ts, 6), "frame": seq, "people": truth}
        return json.dumps(payload).encode(), json.dumps(truth_payload).encode()

    def _wrist(self, hand_m: tuple[float, float], unseen: list[float]) -> list[float]:
        """The wrist keypoint at a hand point; ``unseen``'s place with score 0 if out of view."""
        pixel = self.view.seen_at(*hand_m)
        if pixel is None:
            return [unseen[0], unseen[1], 0.0]
        sigma = self.settings.box_noise_px
        u, v = (c + self._hand_rng.gauss(0.0, sigma) for c in pixel)
        return [round(u, 1), round(v, 1), KEYPOINT_SCORE]


def _rounded(point: tuple[float, float] | None) -> list[float] | None:
    return None if point is None else [round(point[0], 4), round(point[1], 4)]


def _unit(vector: list[float]) -> tuple[float, ...]:
    """``vector`` scaled to length 1 (a Gaussian draw is never all zeros in practice)."""
    norm = math.sqrt(sum(c * c for c in vector)) or 1.0
    return tuple(c / norm for c in vector)
