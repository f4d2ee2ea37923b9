"""Scripts of hand movements: JSON lines of ``{"t": 1.5, "sku": "salt", "kind": "take"}``.

``t`` is seconds after the simulator started (non-decreasing); ``kind`` is
``take``, ``put`` or null (default null); ``confidence`` (0, 1] and
``exact`` (true: published as given, nothing drawn) are optional. Blank
lines and lines starting with ``#`` are skipped. A bad line is refused with
its number, and nothing of the script runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from sim_devices.shelf_camera.publisher import Movement, ShelfCameraSimError

ScriptStep = tuple[float, Movement]

_KEYS = {"t", "sku", "kind", "confidence", "exact"}


def parse_script(text: str, source: str = "script") -> list[ScriptStep]:
    """The steps of a script's text; ShelfCameraSimError naming the line of the first problem."""
    steps: list[ScriptStep] = []
    last_t = 0.0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            entry = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ShelfCameraSimError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(entry, dict):
            raise ShelfCameraSimError(f"{where}: expected a JSON object")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ShelfCameraSimError(f"{where}: unknown key {unknown[0]!r}")
        t = entry.get("t")
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ShelfCameraSimError(f"{where}: t must be a number of seconds, got {t!r}")
        if t < last_t:
            raise ShelfCameraSimError(f"{where}: t {t} is before the previous step's {last_t}")
        exact = entry.get("exact", False)
        if not isinstance(exact, bool):
            raise ShelfCameraSimError(f"{where}: exact must be true or false")
        try:
            sku, kind, confidence = entry.get("sku", ""), entry.get("kind"), entry.get("confidence")
            movement = Movement(sku, kind, confidence, exact)
        except ShelfCameraSimError as exc:
            raise ShelfCameraSimError(f"{where}: {exc}") from None
        steps.append((float(t), movement))
        last_t = float(t)
    return steps


def load_script(path: Path) -> list[ScriptStep]:
    """The steps of a script file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ShelfCameraSimError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_script(text, str(path))
