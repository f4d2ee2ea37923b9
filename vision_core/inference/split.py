"""Split one merged shelf change between the hands that were at the shelf.

Two shoppers reaching into one shelf within a second or two leave one
``ShelfChange``: the scale sees one unstable stretch and one new settled
level. Its total and its centre of gravity cannot say who moved what, but
the per-cell deltas can. A board resting on load cells shares each load
between the two cells around it by the lever rule: a load ``w`` at ``p``
between cells at ``x_i`` and ``x_{i+1}`` puts ``w * (x_{i+1} - p) / (x_{i+1}
- x_i)`` on cell ``i`` and the rest on cell ``i + 1``. Loads add, so with
the hands' positions known (from the cameras) the cell deltas are a linear
function ``A @ w`` of the per-hand weights, one column of ``A`` per hand.

The weights are solved by least squares rather than by picking cells: the
cells carry noise and settling error, hand positions come from cameras and
are a few centimetres off, and with more cells than hands the system is
overdetermined. Least squares uses every cell and its residual says how
well "these hands, at these positions" explains what the scale saw; a big
residual means a load the hands do not account for (a third hand, an item
that fell over), and the split must not be trusted.

Two hands close together (in the same gap between cells, at nearly the
same spot) have nearly the same column: the scale cannot tell their loads
apart, any mix of the two fits, and least squares returns one that amplifies
noise into hundreds of grams. The split reports how separable the hands are
so the caller refuses it and falls back to review instead of billing a guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision_core.shelf_events import cell_positions_m

DEFAULT_MIN_SINGULAR = 0.2
"""Smallest singular value of the lever matrix for hands to count as separable.

Each column of the matrix is a unit load (entries 0..1 summing to 1, norm
between 1/sqrt(2) and 1), so the matrix has a fixed scale and its smallest
singular value ``s`` is an absolute figure: a cell error of ``e`` grams (the
2-norm over the cells) moves the hands' weights by up to ``e / s`` grams.
A condition number is that gain times the largest singular value, which
changes with how the hands share cells, so a threshold on it is no fixed
limit in grams (it is reported all the same). For two hands ``d`` apart on
cells ``g`` apart (``d`` up to ``g``), ``s`` lies between ``d / (2 g)``, for
hands either side of one cell (which carries most of both), and ``d / g``,
for hands in the middle of one gap. 0.2 caps the gain at 5 (about 10 g of error in the worst
direction on 1 g of noise per cell of a 4-cell board); on cells 0.4 m
apart (1.2 m board, 4 cells) it passes any two hands 16 cm apart or more
and refuses any closer than 8 cm.
"""


@dataclass(frozen=True, slots=True)
class LoadSplit:
    """Per-hand grams of one change, with the figures that say whether to trust them.

    ``weights_g`` follows the order of the hands given, with the sign of the
    cell deltas (negative for a take). ``residual_rms_g`` is the misfit per
    cell. ``spare_cells`` is cells minus hands: with none, any weights fit
    exactly and a small residual proves nothing. ``min_singular`` and
    ``condition`` measure how separable the hands are (0 and infinity when
    two hands share a position or there are more hands than cells).
    """

    weights_g: tuple[float, ...]
    total_g: float
    residual_rms_g: float
    min_singular: float
    condition: float
    spare_cells: int


def lever_matrix(
    cells: int, length_m: float, hand_positions_m: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Cells x hands: the share of a unit load at each hand that each cell carries.

    Positions outside the board are clamped to its ends: a hand reaching past
    the last cell still rests its item on the board, over the end cell.
    """
    xs = cell_positions_m(cells, length_m)
    matrix = np.zeros((cells, len(hand_positions_m)), dtype=np.float64)
    for j, position in enumerate(hand_positions_m):
        p = min(max(position, 0.0), length_m)
        i = _gap_index(xs, p)
        frac = (p - xs[i]) / (xs[i + 1] - xs[i])
        matrix[i, j] = 1.0 - frac
        matrix[i + 1, j] = frac
    return matrix


def _gap_index(xs: Sequence[float], p: float) -> int:
    """Index of the left cell of the gap that holds ``p`` (the last gap for the end)."""
    for i in range(len(xs) - 2):
        if p < xs[i + 1]:
            return i
    return len(xs) - 2


def split_change(
    cell_deltas_g: Sequence[float], length_m: float, hand_positions_m: Sequence[float]
) -> LoadSplit | None:
    """Least-squares weights of the hands at ``hand_positions_m`` (metres from the board's start).

    None for a board on one cell: it carries every load alike and has no
    split to read. The result is an estimate; check it with ``is_usable``.
    """
    if not hand_positions_m:
        raise ValueError("no hands to split the change between")
    if length_m <= 0:
        raise ValueError(f"board length must be positive, got {length_m} m")
    cells = len(cell_deltas_g)
    if cells < 2:
        return None
    matrix = lever_matrix(cells, length_m, hand_positions_m)
    deltas = np.asarray(cell_deltas_g, dtype=np.float64)
    weights, _, _, singular = np.linalg.lstsq(matrix, deltas, rcond=None)
    misfit = matrix @ weights - deltas
    hands = len(hand_positions_m)
    smallest = float(singular[-1]) if len(singular) == hands else 0.0
    return LoadSplit(
        weights_g=tuple(float(w) for w in weights),
        total_g=math.fsum(cell_deltas_g),
        residual_rms_g=float(np.sqrt(np.mean(misfit**2))),
        min_singular=smallest,
        condition=float(singular[0]) / smallest if smallest > 0 else math.inf,
        spare_cells=cells - hands,
    )


def why_unusable(
    split: LoadSplit,
    *,
    tolerance_g: float,
    min_g: float,
    min_singular: float = DEFAULT_MIN_SINGULAR,
) -> str | None:
    """The reason not to bill this split, or None when it can be used.

    Separability is checked first: for inseparable hands the weights are
    noise, so their signs and sizes say nothing. A hand must have moved
    weight the same way as the change (a take split into a take and a put
    means the hands do not explain the change) and at least ``min_g``
    (a hand that moved nothing was only near). ``tolerance_g`` bounds the
    residual per cell; the caller knows its scale's noise.
    """
    if split.min_singular < min_singular:
        return (
            f"hands not separable: smallest singular value {split.min_singular:.3f}"
            f" < {min_singular}"
        )
    if split.residual_rms_g > tolerance_g:
        return f"residual {split.residual_rms_g:.1f} g per cell > {tolerance_g} g"
    sign = math.copysign(1.0, split.total_g)
    for index, weight_g in enumerate(split.weights_g):
        if weight_g * sign < min_g:
            return f"hand {index} moved {weight_g:.1f} g, change is {split.total_g:.1f} g"
    return None


def is_usable(
    split: LoadSplit,
    *,
    tolerance_g: float,
    min_g: float,
    min_singular: float = DEFAULT_MIN_SINGULAR,
) -> bool:
    """Whether the split can be billed as it is (see ``why_unusable``)."""
    reason = why_unusable(split, tolerance_g=tolerance_g, min_g=min_g, min_singular=min_singular)
    return reason is None
