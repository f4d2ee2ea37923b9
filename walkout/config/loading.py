"""Reading store.yaml: YAML, then the schema, then the checks across sections."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from devices.crac import get_crac_profile
from devices.errors import ProfileError
from devices.gate.dio_profile import get_dio_profile
from devices.profiles import ScaleProfile, get_profile
from walkout.config.errors import ConfigError, key_path
from walkout.config.store import StoreConfig


def _cross_check(cfg: StoreConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def unique(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for n, ident in enumerate(ids):
            if ident in seen:
                problems.append((f"{kind}[{n}] (id={ident}).id", "duplicate id"))
            seen.add(ident)

    unique("modbus.buses", [b.id for b in cfg.modbus.buses])
    unique("modbus.units", [u.id for u in cfg.modbus.units])
    unique("shelves", [s.id for s in cfg.shelves])
    unique("cameras", [c.id for c in cfg.cameras])
    shelf_ids = {s.id for s in cfg.shelves}
    for n, camera in enumerate(cfg.cameras):
        for k, seen in enumerate(camera.shelves):
            if seen not in shelf_ids:
                problems.append(
                    (f"cameras[{n}] (id={camera.id}).shelves[{k}]", f"no shelf named {seen!r}")
                )
    problems += _cross_check_shelf_cameras(cfg)
    bus_ids = {b.id for b in cfg.modbus.buses}
    profiles: dict[str, ScaleProfile] = {}
    addresses: set[tuple[str, int]] = set()
    for n, unit in enumerate(cfg.modbus.units):
        where = f"modbus.units[{n}] (id={unit.id})"
        if unit.bus not in bus_ids:
            known = ", ".join(sorted(bus_ids)) or "none"
            problems.append((f"{where}.bus", f"no bus named {unit.bus!r} (known: {known})"))
        if (unit.bus, unit.unit_id) in addresses:
            problems.append(
                (f"{where}.unit_id", f"unit id {unit.unit_id} is used twice on {unit.bus}")
            )
        addresses.add((unit.bus, unit.unit_id))
        try:
            profiles[unit.id] = get_profile(unit.profile, tuple(cfg.profile_dirs))
        except ProfileError as exc:
            problems.append((f"{where}.profile", str(exc)))
    used: dict[tuple[str, int], str] = {}
    for n, shelf in enumerate(cfg.shelves):
        where = f"shelves[{n}] (id={shelf.id})"
        if shelf.unit not in {u.id for u in cfg.modbus.units}:
            problems.append((f"{where}.unit", f"no unit named {shelf.unit!r}"))
            continue
        profile = profiles.get(shelf.unit)
        for k, cell in enumerate(shelf.cells):
            if profile is not None and not 0 <= cell < profile.max_cells:
                problems.append(
                    (
                        f"{where}.cells[{k}]",
                        f"cell {cell} outside 0..{profile.max_cells - 1} of profile {profile.name}",
                    )
                )
            owner = used.get((shelf.unit, cell))
            if owner is not None:
                problems.append(
                    (
                        f"{where}.cells[{k}]",
                        f"cell {cell} of {shelf.unit} already belongs to shelf {owner}",
                    )
                )
            used[(shelf.unit, cell)] = shelf.id
    problems += _cross_check_facility(cfg, addresses)
    problems += _cross_check_gates(cfg, addresses)
    if cfg.esl is not None:
        shelf_ids = {s.id for s in cfg.shelves}
        tag_shelf: dict[str, str] = {}
        for shelf_id, tags in cfg.esl.shelves.items():
            if shelf_id not in shelf_ids:
                problems.append((f"esl.shelves.{shelf_id}", f"no shelf named {shelf_id!r}"))
            for k, tag in enumerate(tags):
                if tag in tag_shelf:
                    problems.append(
                        (f"esl.shelves.{shelf_id}[{k}]", f"tag {tag} is also on {tag_shelf[tag]}")
                    )
                tag_shelf[tag] = shelf_id
    return problems


def _cross_check_shelf_cameras(cfg: StoreConfig) -> list[tuple[str, str]]:
    """Shelf cameras on known shelves, one per shelf, ids unique across every camera.

    One camera per shelf because a movement two cameras both saw would count
    twice as evidence; ids unique across ``cameras`` too because an id is the
    camera's MQTT topic level, shared by every camera feed.
    """
    problems: list[tuple[str, str]] = []
    shelf_ids = {s.id for s in cfg.shelves}
    camera_ids = {c.id for c in cfg.cameras}
    seen: set[str] = set()
    watched: dict[str, str] = {}
    for n, camera in enumerate(cfg.shelf_cameras):
        where = f"shelf_cameras[{n}] (id={camera.id})"
        if camera.id in seen:
            problems.append((f"{where}.id", "duplicate id"))
        elif camera.id in camera_ids:
            problems.append(
                (f"{where}.id", f"{camera.id!r} is also in `cameras`: ids are topic names")
            )
        seen.add(camera.id)
        if camera.shelf not in shelf_ids:
            known = ", ".join(sorted(shelf_ids)) or "none"
            problems.append((f"{where}.shelf", f"no shelf named {camera.shelf!r} (known: {known})"))
        elif camera.shelf in watched:
            problems.append(
                (
                    f"{where}.shelf",
                    f"shelf {camera.shelf} already has camera {watched[camera.shelf]} "
                    "(one camera per shelf: a movement both saw would count twice)",
                )
            )
        else:
            watched[camera.shelf] = camera.id
    return problems


def _cross_check_facility(
    cfg: StoreConfig, modbus_addresses: set[tuple[str, int]]
) -> list[tuple[str, str]]:
    """Ids unique across the rack's devices; cooling units on known buses at free addresses."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for section, ids in (
        ("facility.ups", [u.id for u in cfg.facility.ups]),
        ("facility.crac", [c.id for c in cfg.facility.crac]),
    ):
        for n, ident in enumerate(ids):
            if ident in seen:
                problems.append((f"{section}[{n}] (id={ident}).id", "duplicate id"))
            seen.add(ident)
    bus_ids = {b.id for b in cfg.modbus.buses}
    for n, crac in enumerate(cfg.facility.crac):
        where = f"facility.crac[{n}] (id={crac.id})"
        if crac.bus is not None and crac.unit_id is not None:
            if crac.bus not in bus_ids:
                known = ", ".join(sorted(bus_ids)) or "none"
                problems.append((f"{where}.bus", f"no bus named {crac.bus!r} (known: {known})"))
            if (crac.bus, crac.unit_id) in modbus_addresses:
                problems.append(
                    (f"{where}.unit_id", f"unit id {crac.unit_id} is used twice on {crac.bus}")
                )
            modbus_addresses.add((crac.bus, crac.unit_id))
        try:
            profile = get_crac_profile(crac.profile, tuple(cfg.profile_dirs))
        except ProfileError as exc:
            problems.append((f"{where}.profile", str(exc)))
            continue
        wanted = "snmp" if crac.agent is not None else "modbus"
        if profile.protocol != wanted:
            problems.append(
                (
                    f"{where}.profile",
                    f"{crac.profile} is a {profile.protocol} profile; this unit is on {wanted}",
                )
            )
    return problems


def parse_config(
    data: object, source: str = "store.yaml", base_dir: Path | None = None
) -> StoreConfig:
    """Validate already-loaded YAML data; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(
            source, [("(top level)", "expected a mapping of keys, got " + type(data).__name__)]
        )
    try:
        cfg = StoreConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            expected = err["msg"]
            if err["type"] not in ("missing", "extra_forbidden"):
                expected += f" (got {err['input']!r})"
            problems.append((key_path(err["loc"], data), expected))
        raise ConfigError(source, problems) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        update: dict[str, object] = {
            "calibration_file": base_dir / cfg.calibration_file,
            "profile_dirs": [base_dir / p for p in cfg.profile_dirs],
            "alerts": cfg.alerts.model_copy(update={"db": base_dir / cfg.alerts.db}),
        }
        if cfg.checkout is not None:
            update["checkout"] = cfg.checkout.model_copy(
                update={
                    "planogram": base_dir / cfg.checkout.planogram,
                    "ledger": base_dir / cfg.checkout.ledger,
                }
            )
        if cfg.telemetry is not None:
            buffer_dir = base_dir / cfg.telemetry.buffer_dir
            update["telemetry"] = cfg.telemetry.model_copy(update={"buffer_dir": buffer_dir})
        cfg = cfg.model_copy(update=update)
    return cfg


def load_config(path: Path) -> StoreConfig:
    """Read and validate a store.yaml."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(
            str(path), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    return parse_config(data, str(path), path.parent)


def _cross_check_gates(
    cfg: StoreConfig, modbus_addresses: set[tuple[str, int]]
) -> list[tuple[str, str]]:
    """Gates on known lines and buses, unique ids and addresses, known module profiles."""
    if cfg.gates is None:
        return []
    problems: list[tuple[str, str]] = []
    lines = {line.id for line in cfg.gates.osdp_lines}
    tcp_buses = {b.id for b in cfg.modbus.buses if b.type == "tcp"}
    seen_ids: set[str] = set()
    seen_pd: set[tuple[str, int]] = set()
    for n, gate in enumerate(cfg.gates.gates):
        where = f"gates.gates[{n}] (id={gate.id})"
        if gate.id in seen_ids:
            problems.append((f"{where}.id", "duplicate id"))
        seen_ids.add(gate.id)
        ctl = gate.controller
        if ctl.type == "osdp":
            if ctl.line not in lines:
                known = ", ".join(sorted(lines)) or "none"
                problems.append(
                    (f"{where}.controller.line", f"no OSDP line {ctl.line!r} (known: {known})")
                )
            if (ctl.line, ctl.address) in seen_pd:
                problems.append(
                    (f"{where}.controller.address", f"address {ctl.address} used twice")
                )
            seen_pd.add((ctl.line, ctl.address))
            continue
        if ctl.bus not in tcp_buses:
            known = ", ".join(sorted(tcp_buses)) or "none"
            problems.append(
                (f"{where}.controller.bus", f"no Modbus TCP bus {ctl.bus!r} (known: {known})")
            )
        try:
            profile = get_dio_profile(ctl.profile, tuple(cfg.profile_dirs))
            ctl.wiring.check_against(profile, f"gate {gate.id} wiring")
        except (ProfileError, ValueError) as exc:
            problems.append((f"{where}.controller", str(exc)))
    return problems
