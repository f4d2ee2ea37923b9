"""The calibration file written by ``walkout scale calibrate``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from devices.scale import CellCalibration
from walkout.config.errors import ConfigError, Strict, key_path


class CalibrationEntry(Strict):
    """One cell's calibration as stored in the calibration file."""

    zero_raw_g: float
    gain: float = Field(gt=0)
    known_g: float = Field(gt=0)
    calibrated_at: dt.datetime


class CalibrationFile(Strict):
    """Per-unit, per-cell calibrations written by ``walkout scale calibrate``."""

    units: dict[str, dict[int, CalibrationEntry]] = Field(default_factory=dict)

    def for_unit(self, unit_id: str) -> dict[int, CellCalibration]:
        """Calibrations of one unit's cells, as the driver applies them."""
        return {
            cell: CellCalibration(entry.zero_raw_g, entry.gain)
            for cell, entry in self.units.get(unit_id, {}).items()
        }


def load_calibration(path: Path) -> CalibrationFile:
    """The calibration file; a missing file means no cell is calibrated yet."""
    if not path.exists():
        return CalibrationFile()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return CalibrationFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc}")]) from None
    except ValidationError as exc:
        problems = [(key_path(e["loc"], data), e["msg"]) for e in exc.errors()]
        raise ConfigError(str(path), problems) from None


def save_calibration(path: Path, calibration: CalibrationFile) -> None:
    """Write the calibration file atomically: a crash leaves the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    data = calibration.model_dump(mode="json")
    text = "# Written by 'walkout scale calibrate'. grams = (raw - zero_raw_g) * gain\n"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text + yaml.safe_dump(data, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
