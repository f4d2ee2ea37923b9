import pytest

from devices.camera.config import FloorHomography
from devices.camera.detection import Detection
from vision_core.tracking.floor import (
    CameraGeometry,
    CameraMount,
    FloorProjector,
    ProjectionError,
)

# floor x = 0.01 u + 1.0, floor y = 0.02 v - 2.0
AFFINE = FloorHomography.from_matrix([[0.01, 0.0, 1.0], [0.0, 0.02, -2.0], [0.0, 0.0, 1.0]])
# projective: (u, v) -> (u, v) / (1 + 0.001 v)
PROJECTIVE = FloorHomography.from_matrix(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.001, 1.0]], floor_pixel=(0.0, 100.0)
)


def keypoints(left=None, right=None):
    points = [(0.0, 0.0, 0.0)] * 17
    if left is not None:
        points[9] = (*left, 0.9)
    if right is not None:
        points[10] = (*right, 0.9)
    return tuple(points)


def test_foot_point_and_wrists_through_an_affine_homography():
    projector = FloorProjector({"cam": CameraGeometry(AFFINE)})
    detection = Detection(
        "cam",
        5.0,
        (100.0, 50.0, 200.0, 300.0),
        0.9,
        track_id=7,
        keypoints=keypoints(left=(120.0, 150.0)),
    )
    obs = projector.project(detection)
    assert obs is not None
    # foot (150, 300): x = 1.5 + 1.0, y = 6.0 - 2.0; wrist (120, 150): 2.2, 1.0
    assert obs.body_m == pytest.approx((2.5, 4.0))
    assert len(obs.hands_m) == 1
    assert obs.hands_m[0] == pytest.approx((2.2, 1.0))
    assert (obs.camera_id, obs.track_id, obs.t_mono) == ("cam", 7, 5.0)


def test_projective_homography_and_the_horizon():
    projector = FloorProjector({"cam": CameraGeometry(PROJECTIVE)})
    # foot (100, 1000): w = 1 + 1 = 2 -> (50, 500)
    seen = Detection("cam", 1.0, (50.0, 800.0, 150.0, 1000.0), 0.9, track_id=1)
    obs = projector.project(seen)
    assert obs is not None
    assert obs.body_m == pytest.approx((50.0, 500.0))
    # foot (0, -2000): w = 1 - 2 = -1 < 0, above the horizon: no floor position
    sky = Detection("cam", 1.0, (-10.0, -2100.0, 10.0, -2000.0), 0.9, track_id=2)
    assert projector.project(sky) is None
    assert projector.project_all([sky, seen]) == (obs,)


def test_mount_pulls_hands_back_along_the_camera_ray():
    # identity-scaled map, camera 3 m above (0, 0), hands at 1 m:
    # a wrist whose naive floor point is (3, 0) is at (3 * 2/3, 0) = (2, 0).
    homography = FloorHomography.from_matrix([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    mounted = FloorProjector(
        {"cam": CameraGeometry(homography, CameraMount((0.0, 0.0), 3.0))}, hand_height_m=1.0
    )
    detection = Detection(
        "cam",
        0.0,
        (0.5, 0.0, 1.5, 2.0),
        0.9,
        track_id=1,
        keypoints=keypoints(left=(3.0, 0.0), right=(0.0, 4.5)),
    )
    obs = mounted.project(detection)
    assert obs is not None
    assert obs.body_m == pytest.approx((1.0, 2.0))  # feet need no correction
    assert obs.hands_m[0] == pytest.approx((2.0, 0.0))
    assert obs.hands_m[1] == pytest.approx((0.0, 3.0))


def test_refuses_unknown_camera_untracked_detection_and_low_mount():
    projector = FloorProjector({"cam": CameraGeometry(AFFINE)})
    with pytest.raises(ProjectionError, match="other"):
        projector.project(Detection("other", 0.0, (0, 0, 1, 1), 0.9, track_id=1))
    with pytest.raises(ProjectionError, match="no track id"):
        projector.project(Detection("cam", 0.0, (0, 0, 1, 1), 0.9))
    with pytest.raises(ValueError, match="above hand_height_m"):
        FloorProjector({"cam": CameraGeometry(AFFINE, CameraMount((0, 0), 0.8))})
