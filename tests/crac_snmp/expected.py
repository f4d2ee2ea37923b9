"""What a driver must read from a Liebert GP recording: computed from its lines and the MIBs.

Nothing here imports walkout: the OIDs, column numbers and units are read
off LIEBERT-GP-ENVIRONMENTAL-MIB and LIEBERT-GP-CONDITIONS-MIB a second time,
independently of the profile YAML, so a wrong column or scale in either
shows up as a difference.

- lgpEnvTemperatureEntryDegC (…3.4.1.3.3.1): column 2 lgpEnvTemperatureDescrDegC
  (the sensor's OID under lgpEnvTemperatureWellKnown …3.4.1.1), 3 measurement
  in °C, 6 setpoint in °C, 50 measurement in 0.1 °C, 53 setpoint in 0.1 °C;
- lgpEnvHumidityEntryRel (…3.4.2.2.3.1): 2 descr (under …3.4.2.1), 3 in % RH,
  50 in 0.1 % RH;
- lgpEnvState (…3.4.3.n.0): on(1)/off(2); system also standby(3);
  16 lgpEnvStateFanCapacity in percent;
- lgpConditionsPresent (…3.2.2.0); lgpConditionEntry (…3.2.3.1): 2 the
  condition's OID, 12 lgpConditionCurrentState active(1)/inactive(2).

The card answers 32768 where it has no value (see the profile's notes).
"""

from __future__ import annotations

from typing import Any

from peers.snmprec import NUMBER_TAGS, OID, Record, oid_key

LGP = "1.3.6.1.4.1.476.1.42."
TEMP = LGP + "3.4.1.3.3.1."  # lgpEnvTemperatureEntryDegC
HUM = LGP + "3.4.2.2.3.1."  # lgpEnvHumidityEntryRel
TEMP_ID = LGP + "3.4.1.1."  # lgpEnvTemperatureWellKnown: .1 control, .2 return, .3 supply
HUM_ID = LGP + "3.4.2.1."  # lgpEnvHumidityWellKnown: .1 control, .2 return, .3 supply
STATE = LGP + "3.4.3."  # lgpEnvState
COND = LGP + "3.2.3.1."  # lgpConditionEntry
CONDITIONS_PRESENT = LGP + "3.2.2.0"
SETTING = LGP + "3.4.1.3.1.0"  # lgpEnvTemperatureSettingDegC
SHUTDOWN = LGP + "3.4.5.1.0"  # lgpEnvControlShutdownAfterDelay
STARTUP = LGP + "3.4.5.2.0"  # lgpEnvControlStartupAfterDelay
EVENT_RESET = LGP + "3.2.4.1.0"  # lgpConditionControlEventReset

NO_VALUE = 32768
CONDITION_NAMES = {  # the conditions the hand-made copies use, named after the MIB
    LGP + "3.2.1.1": "high_temperature",  # lgpConditionHighTemperature
    LGP + "3.2.1.4": "low_humidity",  # lgpConditionLowHumidity
}


def number(records: dict[str, Record], oid: str) -> int | None:
    """An INTEGER/Gauge/Counter value (not TimeTicks) or None; the card's 32768 is None."""
    record = records.get(oid)
    if record is None or ":" in record.tag or record.base_tag not in NUMBER_TAGS:
        return None
    value = int(record.value)
    return None if value == NO_VALUE else value


def rows_by_identity(records: dict[str, Record], entry: str) -> dict[str, str]:
    """Identity OID -> row index, from column 2, first row in OID order wins."""
    prefix = entry + "2."
    rows: dict[str, str] = {}
    for oid in sorted(records, key=oid_key):
        record = records[oid]
        if oid.startswith(prefix) and record.base_tag == OID:
            rows.setdefault(record.value, oid[len(prefix) :])
    return rows


def cell(
    records: dict[str, Record], entry: str, identity: str, tenths: int, whole: int
) -> float | None:
    """The row's tenths column / 10, else its whole column; None without the row or both."""
    index = rows_by_identity(records, entry).get(identity)
    if index is None:
        return None
    fine = number(records, f"{entry}{tenths}.{index}")
    if fine is not None:
        return fine / 10
    coarse = number(records, f"{entry}{whole}.{index}")
    return float(coarse) if coarse is not None else None


def state(records: dict[str, Record], n: int, off: tuple[int, ...] = (2,)) -> bool | None:
    """lgpEnvState n: True for on(1), False for ``off``, None otherwise or absent."""
    value = number(records, f"{STATE}{n}.0")
    return True if value == 1 else False if value in off else None


def present(records: dict[str, Record], n: int) -> bool:
    return f"{STATE}{n}.0" in records


def alarms(records: dict[str, Record]) -> tuple[str, ...]:
    if number(records, CONDITIONS_PRESENT) == 0:
        return ()
    names = set()
    for oid, record in records.items():
        if not oid.startswith(COND + "2.") or record.base_tag != OID:
            continue
        condition_id = oid[len(COND + "2.") :]
        if number(records, f"{COND}12.{condition_id}") not in (None, 1):
            continue
        names.add(CONDITION_NAMES.get(record.value, record.value))
    return tuple(sorted(names))


def expected_reading(records: dict[str, Record]) -> dict[str, Any]:
    """Every CracReading field the liebert_gp profile maps, as the recording says."""
    supply, ret = TEMP_ID + "3", TEMP_ID + "2"
    humidity = cell(records, HUM, HUM_ID + "2", 50, 3)
    if humidity is None:
        humidity = cell(records, HUM, HUM_ID + "1", 50, 3)
    heaters = [state(records, n) for n in (21, 3, 22) if present(records, n)]
    coolers = [state(records, n) for n in (2,) if present(records, n)]
    fan = number(records, STATE + "16.0")
    return {
        "supply_air_c": cell(records, TEMP, supply, 50, 3),
        "return_air_c": cell(records, TEMP, ret, 50, 3),
        "humidity_pct": humidity,
        "supply_setpoint_c": cell(records, TEMP, supply, 53, 6),
        "return_setpoint_c": cell(records, TEMP, ret, 53, 6),
        "fan_pct": float(fan) if fan is not None else None,
        "unit_on": state(records, 1, off=(2, 3)),
        "humidifier_on": state(records, 4),
        "heater_on": (
            None if not heaters else True if any(heaters) else None if None in heaters else False
        ),
        "compressors_on": (
            None if not coolers or None in coolers else tuple(c is True for c in coolers)
        ),
        "local_mode": None,
        "alarms": alarms(records),
    }
