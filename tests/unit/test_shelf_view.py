import pytest

from devices.scale import CellCalibration, ScaleReading, ShelfView, shelf_weights


def reading() -> ScaleReading:
    return ScaleReading(
        device_id="mc10-1",
        t_mono=12.5,
        cells=(0, 1, 2, 3),
        raw_g=(100.0, 200.0, 300.0, 400.0),
        stable=(True, False, True, False),
        overload=(False, False, True, False),
    )


def test_view_of_every_cell_without_calibration_passes_values_through():
    weights = ShelfView("A1", (0, 1, 2, 3), [0, 1, 2, 3], {})(reading())
    assert weights.shelf_id == "A1"
    assert weights.source == "mc10-1"
    assert weights.t_mono == 12.5
    assert weights.weights_g == (100.0, 200.0, 300.0, 400.0)
    assert weights.stable == (True, False, True, False)
    assert weights.overload == (False, False, True, False)


def test_view_of_some_cells_slices_and_calibrates():
    calibrations = {3: CellCalibration(zero_raw_g=100.0, gain=0.5)}
    weights = ShelfView("A2", (0, 1, 2, 3), [3, 1], calibrations)(reading())
    assert weights.weights_g == (150.0, 200.0)  # (400 - 100) * 0.5, then cell 1 as read
    assert weights.stable == (False, False)
    assert weights.overload == (False, False)


def test_view_agrees_with_one_off_function():
    calibrations = {0: CellCalibration(zero_raw_g=-4.0, gain=1.01)}
    view = ShelfView("A3", (0, 1, 2, 3), [0, 2], calibrations)
    assert view(reading()) == shelf_weights(reading(), "A3", [0, 2], calibrations)


def test_view_refuses_cells_the_device_does_not_read():
    with pytest.raises(ValueError, match=r"cells \[7\] are not read"):
        ShelfView("A4", (0, 1), [1, 7], {})
