import math

import pytest

from vision_core.inference.attribution import (
    AttributionSettings,
    Decision,
    FloorSample,
    ShelfLocation,
    ShopperTrack,
    attribute,
)

from .helpers import change

# Shelf A1 runs along y = 0 from x = 2 m to x = 3.2 m; shoppers stand at y > 0.
SHELF = ShelfLocation("A1", (2.0, 0.0), (3.2, 0.0))


def track(track_id, session_id, body, hand=None, times=(9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0)):
    hands = () if hand is None else (hand,)
    return ShopperTrack(track_id, session_id, [FloorSample(t, body, hands) for t in times])


def reaching(track_id, session_id, x):
    """Standing 0.5 m from the shelf at x, hand in the shelf at x."""
    return track(track_id, session_id, (x, 0.5), (x, 0.02))


EVENT = change("A1", -330.0, position_m=0.5)  # at x = 2.5 m, 10.0..11.0 s


def test_shelf_location_geometry():
    assert SHELF.length_m == pytest.approx(1.2)
    assert SHELF.point_at(0.5) == pytest.approx((2.5, 0.0))
    assert SHELF.point_at(5.0) == pytest.approx((3.2, 0.0))  # clamped
    assert SHELF.distance_m((2.5, 1.0), None) == pytest.approx(1.0)
    assert SHELF.distance_m((1.0, 0.0), None) == pytest.approx(1.0)  # beyond the start


def test_distance_is_the_distance_to_the_nearest_point_or_the_given_spot():
    # a slanted board: 3-4-5 triangle, 5 m long
    slanted = ShelfLocation("B1", (1.0, 1.0), (4.0, 5.0))
    assert slanted.distance_m((1.0 - 4.0, 1.0 + 3.0), None) == pytest.approx(5.0)  # beside start
    assert slanted.distance_m((2.5 + 4.0, 3.0 - 3.0), None) == pytest.approx(5.0)  # off the middle
    assert slanted.distance_m((7.0, 9.0), None) == pytest.approx(5.0)  # past the end
    assert slanted.distance_m((1.0, 1.0), 2.5) == pytest.approx(2.5)  # to the spot 2.5 m along
    assert slanted.distance_m((1.0, 1.0), 9.0) == pytest.approx(5.0)  # spot clamped to the end
    point = ShelfLocation("C1", (2.0, 2.0), (2.0, 2.0))  # degenerate: a point
    assert point.distance_m((5.0, 6.0), None) == pytest.approx(5.0)
    assert point.distance_m((5.0, 6.0), 0.3) == pytest.approx(5.0)


def test_one_shopper_at_the_shelf_is_confident():
    result = attribute(EVENT, SHELF, [reaching("t1", "s1", 2.5)])
    assert result.decision is Decision.CONFIDENT
    assert result.session_id == "s1"
    assert result.track_id == "t1"
    assert result.candidates[0].by_hand
    assert result.candidates[0].score > 0.9


def test_two_shoppers_one_far_is_confident():
    far = reaching("t2", "s2", 5.0)  # 2.5 m along the aisle
    result = attribute(EVENT, SHELF, [far, reaching("t1", "s1", 2.55)])
    assert result.decision is Decision.CONFIDENT
    assert result.session_id == "s1"
    assert [c.track_id for c in result.candidates] == ["t1", "t2"]
    assert result.candidates[1].score < 0.01


def test_nearest_hand_wins_over_shopper_at_the_next_facing():
    near = reaching("t1", "s1", 2.5)
    neighbour = reaching("t2", "s2", 2.95)  # 45 cm along: reaching the next facing
    result = attribute(EVENT, SHELF, [near, neighbour])
    assert result.decision is Decision.CONFIDENT
    assert result.track_id == "t1"


def test_two_at_the_same_spot_tie_and_wait():
    tracks = [reaching("t1", "s1", 2.5), reaching("t2", "s2", 2.52)]
    result = attribute(EVENT, SHELF, tracks, now_mono=11.5)
    assert result.decision is Decision.WAIT
    assert result.session_id is None
    assert result.track_id is None
    assert result.wait_until_mono == pytest.approx(21.0)  # event end + wait_s
    assert "tie between sessions" in result.reason
    assert len(result.candidates) == 2


def test_tie_still_unresolved_after_wait_goes_to_review():
    tracks = [reaching("t1", "s1", 2.5), reaching("t2", "s2", 2.52)]
    result = attribute(EVENT, SHELF, tracks, now_mono=21.0)
    assert result.decision is Decision.REVIEW
    assert result.session_id is None
    assert "unresolved" in result.reason


def test_same_group_at_the_spot_charges_the_session():
    tracks = [reaching("parent", "family", 2.5), reaching("child", "family", 2.48)]
    result = attribute(EVENT, SHELF, tracks)
    assert result.decision is Decision.SESSION
    assert result.session_id == "family"
    assert result.track_id is None


def test_body_only_tracks_score_with_reach():
    standing = track("t1", "s1", (2.5, 0.6))  # no keypoints, within arm's reach
    passing = track("t2", "s2", (2.5, 2.0))  # across the aisle
    result = attribute(EVENT, SHELF, [standing, passing])
    assert result.decision is Decision.CONFIDENT
    assert result.track_id == "t1"
    assert not result.candidates[0].by_hand


def test_hand_elsewhere_beats_body_at_the_spot_being_weaker():
    # A hand 1 m away is no evidence; a body 0.6 m from the spot (no keypoints) is.
    busy = track("t1", "s1", (3.5, 0.5), (3.5, 0.02))
    body = track("t2", "s2", (2.5, 0.6))
    result = attribute(EVENT, SHELF, [busy, body])
    assert result.track_id == "t2"


def test_timing_shopper_there_only_long_before_is_not_credited():
    early = track("t1", "s1", (2.5, 0.5), (2.5, 0.02), times=(5.0, 6.0, 7.0))
    late_walker = track("t2", "s2", (2.5, 0.5), (2.5, 0.02), times=(11.2, 11.6))
    result = attribute(EVENT, SHELF, [early, late_walker])
    assert [c.track_id for c in result.candidates] == ["t2"]  # t1 has no sample in the window
    assert result.candidates[0].score < 1.0  # after the window: discounted
    assert result.decision is Decision.CONFIDENT


def test_nobody_near_goes_to_review():
    result = attribute(EVENT, SHELF, [reaching("t1", "s1", 6.0)])
    assert result.decision is Decision.REVIEW
    assert "nobody near" in result.reason
    assert attribute(EVENT, SHELF, []).decision is Decision.REVIEW


def test_winner_without_session_goes_to_review():
    result = attribute(EVENT, SHELF, [reaching("t9", None, 2.5)])
    assert result.decision is Decision.REVIEW
    assert "t9" in result.reason


def test_unknown_position_uses_the_whole_shelf():
    event = change("A1", -330.0, position_m=None)
    result = attribute(event, SHELF, [reaching("t1", "s1", 3.0), reaching("t2", "s2", 7.0)])
    assert result.decision is Decision.CONFIDENT
    assert result.track_id == "t1"


def test_settings_change_the_decision():
    tracks = [reaching("t1", "s1", 2.5), reaching("t2", "s2", 2.7)]
    assert attribute(EVENT, SHELF, tracks).decision is Decision.CONFIDENT
    loose = AttributionSettings(contender_ratio=0.05)
    assert attribute(EVENT, SHELF, tracks, settings=loose).decision is Decision.WAIT


def test_out_of_order_sample_refused():
    shopper = ShopperTrack("t1", "s1", [FloorSample(2.0, (0.0, 0.0))])
    with pytest.raises(ValueError, match="older than"):
        shopper.append(FloorSample(1.0, (0.0, 0.0)))
    assert len(shopper) == 1


def test_wrong_shelf_refused():
    with pytest.raises(ValueError, match="not 'B1'"):
        attribute(EVENT, ShelfLocation("B1", (0, 0), (1, 0)), [])


# Hand 5 cm from the spot: exp(-0.5 (0.05 / 0.15)^2) = 0.946.
# Body 1 m from the spot, no wrist seen: 0.6 x exp(-0.5 ((1.0 - 0.65) / 0.30)^2) = 0.304,
# below 0.5 x 0.946 = 0.473 (contender_ratio): no contender. Unscaled it was 0.506.
HAND_5CM = pytest.approx(math.exp(-0.5 * (0.05 / 0.15) ** 2), abs=1e-9)
BODY_1M = pytest.approx(0.6 * math.exp(-0.5 * ((1.0 - 0.65) / 0.30) ** 2), abs=1e-9)


def test_hand_in_the_shelf_beats_a_body_only_shopper_a_metre_away():
    taker = track("t1", "s1", (2.55, 0.5), (2.55, 0.0))  # hand 5 cm from the spot
    bystander = track("t2", "s2", (2.5, 1.0))  # body 1 m from the spot, wrists unseen
    result = attribute(EVENT, SHELF, [bystander, taker], now_mono=11.5)
    assert result.decision is Decision.CONFIDENT
    assert result.track_id == "t1"
    assert result.session_id == "s1"
    first, second = result.candidates
    assert (first.track_id, first.by_hand, first.score) == ("t1", True, HAND_5CM)
    assert (second.track_id, second.by_hand, second.score) == ("t2", False, BODY_1M)


def test_body_only_evidence_is_capped_by_body_weight():
    # Within arm's reach the body's Gaussian is 1: the score is body_weight itself.
    standing = track("t1", "s1", (2.5, 0.6))
    result = attribute(EVENT, SHELF, [standing])
    assert result.candidates[0].score == pytest.approx(0.6)
    heavier = AttributionSettings(body_weight=0.8)
    assert attribute(EVENT, SHELF, [standing], settings=heavier).candidates[
        0
    ].score == pytest.approx(0.8)


def test_body_only_shopper_alone_is_still_confident():
    # 0.6 >= min_score 0.3 and nobody else: one contender, bound to a session.
    result = attribute(EVENT, SHELF, [track("t1", "s1", (2.5, 0.6))])
    assert result.decision is Decision.CONFIDENT
    assert (result.track_id, result.session_id) == ("t1", "s1")
    assert not result.candidates[0].by_hand


def test_body_within_reach_still_contends_with_a_hand():
    # Wrists unseen but body within reach: 0.6 >= 0.473, its hands may be in the shelf.
    taker = track("t1", "s1", (2.55, 0.5), (2.55, 0.0))
    pressed = track("t2", "s2", (2.5, 0.6))
    result = attribute(EVENT, SHELF, [taker, pressed], now_mono=11.5)
    assert result.decision is Decision.WAIT
    assert [c.track_id for c in result.candidates] == ["t1", "t2"]


def test_wrists_seen_elsewhere_are_not_rescued_by_the_body():
    # t2 stands within reach of the spot; in the window its wrists were seen 1 m along
    # the shelf (x = 3.5), in the other samples not at all. Its best evidence is then the
    # far hand (exp(-0.5 (1.0 / 0.15)^2) ~ 2e-10), not its body's 0.6.
    times = (9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0)
    samples = [
        FloorSample(t, (2.5, 0.6), ((3.5, 0.0),) if t in (10.0, 10.5) else ()) for t in times
    ]
    busy_elsewhere = ShopperTrack("t2", "s2", samples)
    taker = track("t1", "s1", (2.55, 0.5), (2.55, 0.0))
    result = attribute(EVENT, SHELF, [busy_elsewhere, taker], now_mono=11.5)
    assert result.decision is Decision.CONFIDENT
    assert result.track_id == "t1"
    loser = result.candidates[1]
    assert loser.track_id == "t2"
    assert loser.by_hand
    assert loser.distance_m == pytest.approx(1.0)
    assert loser.score < 1e-6


def test_tie_between_two_hands_still_waits():
    # Hands 5 cm either side of the spot: equal scores, different sessions.
    left = track("t1", "s1", (2.45, 0.5), (2.45, 0.0))
    right = track("t2", "s2", (2.55, 0.5), (2.55, 0.0))
    result = attribute(EVENT, SHELF, [left, right], now_mono=11.5)
    assert result.decision is Decision.WAIT
    assert [c.score for c in result.candidates] == [HAND_5CM, HAND_5CM]
    assert result.wait_until_mono == pytest.approx(21.0)


@pytest.mark.parametrize("weight", [0.0, 1.0, -0.1, 1.5])
def test_body_weight_out_of_range_refused(weight):
    with pytest.raises(ValueError, match="body_weight"):
        AttributionSettings(body_weight=weight)


def test_drop_before_forgets_only_older_samples_in_place() -> None:
    track = ShopperTrack("t", None, [FloorSample(float(t), (0.0, 0.0)) for t in range(5)])
    assert track.drop_before(2.0) == 2
    assert [s.t_mono for s in track.between(-1.0, 10.0)] == [2.0, 3.0, 4.0]
    assert track.drop_before(2.0) == 0
    assert track.drop_before(9.0) == 3
    assert len(track) == 0
