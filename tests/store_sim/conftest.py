"""Fixtures for the store simulator tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

SMALL: dict[str, Any] = {
    "name": "small",
    "seed": 5,
    "duration_s": 300,
    "floor": {
        "entry": {"id": "in", "x_m": 1.0, "y_m": 0.0},
        "exit": {"id": "out", "x_m": 7.0, "y_m": 0.0},
        "shelves": [
            {
                "id": "A",
                "x_m": 1.0,
                "y_m": 3.0,
                "length_m": 1.2,
                "cells": 4,
                "products": [
                    {
                        "sku": "cola",
                        "unit_weight_g": 355,
                        "weight_sigma_g": 2,
                        "price": "1.20",
                        "span_m": [0.0, 0.6],
                        "stock": 30,
                    },
                    {
                        "sku": "water",
                        "unit_weight_g": 520,
                        "price": "0.90",
                        "span_m": [0.6, 1.2],
                        "stock": 30,
                    },
                ],
            },
            {
                "id": "B",
                "x_m": 3.5,
                "y_m": 3.0,
                "length_m": 1.0,
                "cells": 2,
                "products": [
                    {
                        "sku": "crisps",
                        "unit_weight_g": 180,
                        "weight_sigma_g": 3,
                        "price": "1.80",
                        "span_m": [0.0, 1.0],
                        "stock": 30,
                    },
                ],
            },
            {
                "id": "C",
                "x_m": 5.5,
                "y_m": 3.0,
                "length_m": 0.8,
                "cells": 1,
                "products": [
                    {
                        "sku": "choc",
                        "unit_weight_g": 52,
                        "price": 1,
                        "span_m": [0.0, 0.8],
                        "stock": 40,
                    },
                ],
            },
        ],
    },
    "arrivals": {
        "rate_per_min": 4,
        "group_sizes": {1: 0.5, 2: 0.3, 3: 0.2},
        "child_fraction": 0.5,
    },
    "behaviour": {
        "stops": [2, 5],
        "dwell_s": {"median": 8, "sigma": 0.3},
        "take": 0.8,
        "quantity": {1: 0.7, 2: 0.3},
        "put_back_same": 0.2,
        "put_back_wrong": 0.2,
        "crowding": 0.5,
        "children": {"take": 0.6, "parent_puts_back": 0.5},
    },
    "sensors": {
        "scale": {"rate_hz": 10, "sigma_g": 0.5, "drift_g_per_h": 0.0},
        "tracker": {
            "rate_hz": 2,
            "reach_rate_hz": 10,
            "position_sigma_m": 0.02,
            "hand_sigma_m": 0.01,
        },
    },
}


@pytest.fixture
def small() -> dict[str, Any]:
    """A small store as a decoded YAML document (a fresh copy per test)."""
    return copy.deepcopy(SMALL)


@pytest.fixture(scope="session", autouse=True)
def _matplotlib_fonts_loaded() -> None:
    """Load matplotlib's fonts once, before any test's leak snapshot.

    matplotlib keeps its font files open in a process-wide cache on first use; that
    is not a leak of the test that happens to draw first.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("fonts")
    ax.hist([1.0, 2.0])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
