"""What the checkout wiring tests feed the bus: a two-cell board's readings, a hand at it."""

from devices.scale import ShelfWeights
from vision_core.checkout.messages import TrackSample
from vision_core.inference.attribution import FloorSample


def weights(t: float, cells: tuple[float, float], stable: bool = True) -> ShelfWeights:
    """Board A1 of scale sc-1 reading ``cells`` at ``t``."""
    return ShelfWeights(
        source="sc-1",
        t_mono=t,
        shelf_id="A1",
        weights_g=cells,
        stable=(stable, stable),
        overload=(False, False),
    )


def at_shelf(t: float, position_m: float) -> TrackSample:
    """Session s1's track t1 at the board, its hand at ``position_m``."""
    hand = (2.02, position_m)  # just in front of the edge x = 2
    sample = FloorSample(t, (2.5, position_m), (hand,))
    return TrackSample(source="cam", t_mono=t, track_id="t1", session_id="s1", sample=sample)
