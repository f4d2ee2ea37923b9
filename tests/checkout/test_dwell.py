"""Shelf-screen dwell notices: a shopper at one shelf for the configured time, once per visit."""

from pathlib import Path

import pytest

from vision_core.checkout.config import CheckoutSettings
from vision_core.checkout.messages import ShelfDwell

from .scenario import feed_all, sample, store


def dwells(out):
    return [(m.shelf_id, m.track_id, m.session_id, m.t_mono, m.seconds) for m in out
            if isinstance(m, ShelfDwell)]  # fmt: skip


def stand(track, session, x, y, t0, t1):
    n = round((t1 - t0) / 0.5)
    return [sample(track, session, t0 + 0.5 * i, (x, y), None) for i in range(n + 1)]


def test_dwell_after_three_seconds_once_per_visit(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        out = feed_all(engine, stand("t1", "s1", 2.5, 0.5, 0.0, 5.0))
        assert dwells(out) == [("A1", "t1", "s1", 3.0, 3.0)]
        assert feed_all(engine, stand("t1", "s1", 2.5, 3.0, 5.5, 6.0)) == []  # walks off
        out = feed_all(engine, stand("t1", "s1", 6.4, 0.6, 6.5, 10.0))  # now at C1
        assert dwells(out) == [("C1", "t1", "s1", 9.5, 3.0)]


def test_passing_by_or_between_shelves_is_no_dwell(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        assert feed_all(engine, stand("t2", None, 2.5, 0.5, 0.0, 2.5)) == []
        assert feed_all(engine, stand("t2", None, 2.5, 3.0, 3.0, 4.0)) == []
        # 1.4 m past A1's end and 1.4 m before C1: near neither (radius 0.8 m).
        assert feed_all(engine, stand("t3", None, 4.6, 0.5, 0.0, 10.0)) == []


def test_dwell_time_is_configurable(tmp_path: Path):
    settings = CheckoutSettings(dwell_s=5.0)
    with store(tmp_path / "l.db", settings) as engine:
        out = feed_all(engine, stand("t1", None, 2.5, 0.5, 0.0, 6.0))
        assert dwells(out) == [("A1", "t1", None, 5.0, 5.0)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dwell_s", 0.0, "dwell_s must be > 0"),
        ("currency", "eur", "ISO 4217"),
        ("track_retention_s", 5.0, "track_retention_s must be >= "),
    ],
)
def test_settings_refuse_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        CheckoutSettings(**{field: value})
