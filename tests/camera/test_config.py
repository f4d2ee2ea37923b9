import math

import numpy as np
import pytest

from devices.camera.config import CameraConfig, CameraConfigError, CameraRole, FloorHomography
from devices.camera.floor import draw_floor_grid, floor_to_image, image_to_floor
from sim_devices.camera.scene import Scene
from sim_devices.camera.view import CameraView

# Image -> floor by hand: 1 px = 1 cm, the floor origin at pixel (10, 10).
SCALE = [[0.01, 0.0, -0.1], [0.0, 0.01, -0.1], [0.0, 0.0, 1.0]]
SQUARE_IMG = [[10, 10], [110, 10], [110, 110], [10, 110]]
SQUARE_FLOOR = [[0, 0], [1, 0], [1, 1], [0, 1]]


def test_points_fit_a_pure_scale_and_project_hand_computed_points():
    floor = FloorHomography.from_points(SQUARE_IMG, SQUARE_FLOOR)
    assert floor.reprojection_error_m < 1e-6
    assert np.allclose(floor.matrix, SCALE, atol=1e-9)
    got = image_to_floor(floor, [[60, 260], [10, 10], [310, 210]])
    assert np.allclose(got, [[0.5, 2.5], [0.0, 0.0], [3.0, 2.0]], atol=1e-9)
    back = floor_to_image(floor, [[0.5, 2.5]])
    assert np.allclose(back, [[60, 260]], atol=1e-6)


def test_a_perspective_homography_projects_like_the_formula():
    # H = [[1,0,0],[0,1,0],[0,0.001,1]]: (u, v) -> (u, v) / (1 + v/1000).
    image = [[0, 0], [100, 0], [0, 100], [100, 100]]
    floor_pts = [[0, 0], [100, 0], [0, 100 / 1.1], [100 / 1.1, 100 / 1.1]]
    floor = FloorHomography.from_points(image, floor_pts, max_error_m=1e-4)
    (point,) = image_to_floor(floor, [[50, 50]])
    assert point == pytest.approx([50 / 1.05, 50 / 1.05], abs=1e-6)
    # Beyond the horizon (1 + v/1000 <= 0, i.e. v <= -1000) there is no floor position.
    (above,) = image_to_floor(floor, [[0, -2000]])
    assert np.isnan(above).all()


def test_a_given_matrix_is_normalised_and_its_sign_does_not_matter():
    plain = FloorHomography.from_matrix(SCALE)
    flipped = FloorHomography.from_matrix([[-v * 3 for v in row] for row in SCALE])
    points = [[60, 260], [300, 40]]
    assert np.allclose(image_to_floor(plain, points), image_to_floor(flipped, points))
    assert flipped.matrix[2, 2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 2, 3], [2, 4, 6], [0, 0, 1]], "singular"),
        ([[1, 0, 0], [0, 1e-13, 0], [0, 0, 1]], "degenerate"),
        ([[1, 0], [0, 1]], "3x3"),
        ([[1, 0, 0], [0, math.nan, 0], [0, 0, 1]], "finite"),
        ("not a matrix", "3x3"),
    ],
)
def test_bad_matrices_are_refused(matrix, message):
    with pytest.raises(CameraConfigError, match=message):
        FloorHomography.from_matrix(matrix)


@pytest.mark.parametrize(
    ("image", "floor", "message"),
    [
        ([[0, 0], [10, 0], [20, 0], [30, 0]], SQUARE_FLOOR, "lie on one line"),
        ([[0, 0], [10, 0], [20, 0], [0, 10]], SQUARE_FLOOR, "points 0, 1 and 2 lie on one line"),
        ([[0, 0], [10, 0], [10, 0], [0, 10]], SQUARE_FLOOR, "points 1 and 2 are the same"),
        (SQUARE_IMG[:3], SQUARE_FLOOR[:3], "at least 4 points"),
        (SQUARE_IMG, SQUARE_FLOOR[:3], "has 4 points but floor_points has 3"),
        ([[0, 0, 1]] * 4, SQUARE_FLOOR, r"\[x, y\] pairs"),
        (SQUARE_IMG, [[0, 0], [1, 0], [2, 0], [3, 0]], "floor_points: the points lie on one line"),
    ],
)
def test_bad_point_sets_are_refused(image, floor, message):
    with pytest.raises(CameraConfigError, match=message):
        FloorHomography.from_points(image, floor)


def test_a_mistyped_point_is_named_by_the_reprojection_check():
    image = [*SQUARE_IMG, [60, 60]]
    floor = [*SQUARE_FLOOR, [0.5, 1.5]]  # should be [0.5, 0.5]
    with pytest.raises(CameraConfigError, match=r"point 4 .* m off after fitting"):
        FloorHomography.from_points(image, floor)
    ok = FloorHomography.from_points(image, [*SQUARE_FLOOR, [0.51, 0.5]], max_error_m=0.05)
    assert 0 < ok.reprojection_error_m < 0.05


def test_camera_config_from_plain_data():
    config = CameraConfig.from_dict(
        {
            "id": "ceil-3",
            "role": "ceiling",
            "url": "rtsp://10.0.4.13/stream1",
            "fps_cap": 15,
            "shelves": ["A1", "A2"],
            "floor": {"image_points": SQUARE_IMG, "floor_points": SQUARE_FLOOR},
        }
    )
    assert config.role is CameraRole.CEILING
    assert config.source_kind == "rtsp"
    assert config.shelves == ("A1", "A2")
    assert config.floor is not None
    assert (
        CameraConfig.from_dict({"id": "e", "role": "entry", "url": "/v.avi"}).source_kind == "file"
    )
    assert CameraConfig("s", CameraRole.SHELF, "http://x/v.mjpg").source_kind == "mjpeg"
    assert CameraConfig("m", CameraRole.SHELF, "mqtt://b:1883").source_kind == "metadata"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "c 1", "role": "ceiling", "url": "u"}, "id: 'c 1' must be"),
        (
            {"id": "c1", "role": "roof", "url": "u"},
            "role 'roof' is not one of ceiling, shelf, entry",
        ),
        ({"id": "c1", "role": "shelf"}, "missing key 'url'"),
        ({"id": "c1", "role": "shelf", "url": "u", "fps": 5}, "unknown key 'fps'"),
        ({"id": "c1", "role": "shelf", "url": "u", "fps_cap": 0}, "fps_cap must be a number > 0"),
        ({"id": "c1", "role": "shelf", "url": "u", "shelves": "A1"}, "list of shelf ids"),
        ({"id": "c1", "role": "shelf", "url": "u", "shelves": ["A", "A"]}, "listed twice"),
        (
            {"id": "c1", "role": "shelf", "url": "u", "floor": {"matrix": [[1, 0, 0]] * 3}},
            "camera c1: floor: floor homography: the matrix is singular",
        ),
        (
            {"id": "c1", "role": "shelf", "url": "u", "floor": {"image_points": SQUARE_IMG}},
            "camera c1: floor: give either matrix, or image_points and floor_points",
        ),
        (
            {"id": "c1", "role": "shelf", "url": "u", "floor": {"matrix": SCALE, "pts": 1}},
            "camera c1: floor: unknown key 'pts'",
        ),
    ],
)
def test_camera_config_errors_name_the_key(data, message):
    with pytest.raises(CameraConfigError, match=message):
        CameraConfig.from_dict(data)


def test_grid_lines_land_on_the_expected_pixels():
    floor = FloorHomography.from_matrix(SCALE)
    image = np.zeros((240, 320, 3), np.uint8)
    drawn = draw_floor_grid(image, floor)
    # Visible floor: x -0.1..3.1 m, y -0.1..2.3 m -> lines x = 0..3, y = 0..2.
    assert drawn == 7
    grid, axis = (0, 255, 255), (0, 0, 255)
    for u in (110, 210, 310):  # x = 1, 2, 3 m
        assert (image[30:230, u] == grid).all(), u
    for v in (110, 210):  # y = 1, 2 m
        assert (image[v, 30:300] == grid).all(), v
    assert (image[30:230, 10] == axis).all()
    assert (image[10, 30:300] == axis).all()
    untouched = np.ones(image.shape[:2], bool)
    for u in (10, 110, 210, 310):
        untouched[:, u] = False
    for v in (10, 110, 210):
        untouched[v, :] = False
    assert not image[untouched].any()


def test_grid_through_the_simulators_homography_falls_on_its_floor_tiles():
    # Two independent implementations: the simulator draws its 1 m floor tiles from its
    # floor->image matrix; the driver draws the grid from the image->floor matrix.
    scene = Scene(shelves=())
    view = CameraView(scene, 640, 480, kind="oblique", noise=0)
    rendered = view.render([], 0, 0.0)
    floor = FloorHomography.from_matrix(view.image_to_floor.tolist(), floor_pixel=(320, 400))
    mask = np.zeros((480, 640, 3), np.uint8)
    draw_floor_grid(mask, floor, extent_m=(0, 0, 8, 6), colour=(255, 255, 255), axis_colour=None)
    on_grid = mask[:, :, 0] > 0
    on_grid[:40] = False  # the timestamp overlay
    tile_line = (np.abs(rendered.astype(int) - (140, 145, 150)).sum(axis=2) < 30) | (
        np.abs(rendered.astype(int) - (170, 175, 180)).sum(axis=2) > 30
    )
    share = tile_line[on_grid].mean()
    assert share > 0.9, share
    (corner,) = image_to_floor(floor, [view.image_points[2]])
    assert corner == pytest.approx([8.0, 6.0], abs=1e-3)
