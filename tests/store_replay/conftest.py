"""Fixtures for the checkout replay tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

import io

import pytest


@pytest.fixture(scope="session", autouse=True)
def _matplotlib_fonts_loaded() -> None:
    """Load matplotlib's fonts once, before any test's leak snapshot.

    matplotlib keeps its font files open in a process-wide cache on first use; that
    is not a leak of the test whose report happens to draw first.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("fonts")
    ax.hist([1.0, 2.0])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
