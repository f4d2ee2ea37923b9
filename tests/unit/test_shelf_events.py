import pytest

from devices.scale import ShelfWeights
from vision_core.shelf_events import ShelfChangeDetector, split_position_m


def sample(t, weights, stable=True):
    return ShelfWeights(
        source="sc",
        t_mono=t,
        shelf_id="A1",
        weights_g=tuple(weights),
        stable=(stable,) * len(weights),
        overload=(False,) * len(weights),
    )


def feed_all(detector, samples):
    return [change for s in samples for change in detector.feed(s)]


def test_position_from_split_by_lever_rule():
    # 300 g at 0.3 m of a 1.2 m board on 4 cells at 0, 0.4, 0.8, 1.2 m: 1/4 on cell 0, 3/4 on cell 1
    assert split_position_m((75.0, 225.0, 0.0, 0.0), 1.2) == pytest.approx(0.3)
    assert split_position_m((0.0, 0.0), 1.0) is None


def test_take_reported_once_after_settling():
    detector = ShelfChangeDetector("A1", 1.2)
    samples = [sample(t, [500, 500, 500, 500]) for t in range(3)]
    samples.append(sample(3, [480, 300, 500, 500], stable=False))
    samples.append(sample(4, [450, 260, 500, 500], stable=False))
    samples += [sample(t, [450, 350, 500, 500]) for t in range(5, 9)]
    found = feed_all(detector, samples)
    assert len(found) == 1
    assert found[0].kind == "take"
    assert found[0].delta_g == pytest.approx(-200)
    assert found[0].started_mono == 3
    assert found[0].position_m == pytest.approx(0.4 * 150 / 200)
    assert found[0].cell_deltas_g == pytest.approx((-50, -150, 0, 0))


def test_put_reports_each_cells_share_by_lever_rule():
    # 1.2 m board on 4 cells at 0, 0.4, 0.8, 1.2 m; 240 g put at 0.5 m lies between
    # cells 1 and 2: (0.8 - 0.5) / 0.4 = 3/4 on cell 1, the other 1/4 on cell 2
    expected = (0.0, 180.0, 60.0, 0.0)
    before = (410.0, 520.0, 385.0, 450.0)
    after = tuple(b + e for b, e in zip(before, expected, strict=True))
    detector = ShelfChangeDetector("A1", 1.2)
    samples = [sample(t, before) for t in range(3)]
    samples.append(sample(3, (430.0, 700.0, 400.0, 450.0), stable=False))
    samples += [sample(t, after) for t in range(4, 8)]
    found = feed_all(detector, samples)
    assert len(found) == 1
    change = found[0]
    assert change.kind == "put"
    assert change.cell_deltas_g == pytest.approx(expected)
    assert sum(change.cell_deltas_g) == pytest.approx(change.delta_g)
    assert change.delta_g == pytest.approx(240.0)
    assert change.position_m == pytest.approx(0.5)


def test_small_drift_is_not_an_event():
    detector = ShelfChangeDetector("A1", 1.0, min_change_g=8)
    assert feed_all(detector, [sample(t, [100 + t * 0.5, 100]) for t in range(20)]) == []


def test_single_cell_shelf_has_no_position():
    assert split_position_m((250.0,), 0.4) is None
