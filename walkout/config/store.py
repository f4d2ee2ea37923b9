"""The store and its shelves: the root of store.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from devices.profiles import ScaleProfile, get_profile
from walkout.config.cameras import Camera, ShelfCamera
from walkout.config.errors import Strict
from walkout.config.esl import EslSection
from walkout.config.facility import Crac, FacilitySection
from walkout.config.gates import Gate, GatesSection
from walkout.config.modbus import Identifier, ModbusSection, ModbusUnit, RtuBus, TcpBus
from walkout.config.services import (
    AlertsSection,
    CheckoutSection,
    MqttSection,
    SupervisorSection,
    TelemetrySection,
)
from walkout.config.vision import VisionSection


class StoreInfo(Strict):
    """Who this store is."""

    id: Identifier
    name: str = ""
    timezone: str = "UTC"


class Location(Strict):
    """Where a shelf is on the floor plan (metres from the plan's origin).

    (``x_m``, ``y_m``) is the front edge's end where position 0 of the shelf is;
    the edge runs ``length_m`` from there along ``heading_deg`` (0 = the plan's
    +x axis, counter-clockwise). Attribution measures hands against this edge.
    """

    x_m: float
    y_m: float
    heading_deg: float = Field(default=0.0, ge=-360, le=360)
    level: int = Field(default=1, ge=0, le=20, description="shelf level, 1 = lowest")
    aisle: str = ""


class Shelf(Strict):
    """A shelf board and the load cells under it."""

    id: Identifier
    unit: str
    cells: list[int] = Field(min_length=1)
    length_m: float = Field(default=1.0, gt=0, le=10)
    rate_hz: float = Field(default=10.0, gt=0, le=100)
    location: Location | None = None
    split_lifts: bool = Field(
        default=True,
        description=(
            "tell apart lifts and puts that follow each other before the board settles; "
            "turn off for a board that rings below ~2 Hz (see vision_core.shelf_steps)"
        ),
    )


class StoreConfig(Strict):
    """The whole store.yaml."""

    store: StoreInfo
    profile_dirs: list[Path] = Field(default_factory=list)
    calibration_file: Path = Path("calibration.yaml")
    modbus: ModbusSection = ModbusSection()
    shelves: list[Shelf] = Field(default_factory=list)
    facility: FacilitySection = FacilitySection()
    esl: EslSection | None = None
    gates: GatesSection | None = None
    cameras: list[Camera] = Field(default_factory=list)
    shelf_cameras: list[ShelfCamera] = Field(default_factory=list)
    supervisor: SupervisorSection = SupervisorSection()
    alerts: AlertsSection = AlertsSection()
    telemetry: TelemetrySection | None = None
    mqtt: MqttSection | None = None
    checkout: CheckoutSection | None = None
    vision: VisionSection = Field(default_factory=VisionSection)

    def bus(self, bus_id: str) -> TcpBus | RtuBus:
        """The bus with this id."""
        return next(b for b in self.modbus.buses if b.id == bus_id)

    def unit(self, unit_id: str) -> ModbusUnit:
        """The unit with this id."""
        return next(u for u in self.modbus.units if u.id == unit_id)

    def crac(self, crac_id: str) -> Crac:
        """The cooling unit with this id; KeyError naming the known ones."""
        for crac in self.facility.crac:
            if crac.id == crac_id:
                return crac
        known = ", ".join(c.id for c in self.facility.crac) or "none"
        raise KeyError(f"no cooling unit {crac_id!r} (known: {known})")

    def camera(self, camera_id: str) -> Camera:
        """The camera with this id; KeyError naming the known ones."""
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        known = ", ".join(c.id for c in self.cameras) or "none"
        raise KeyError(f"no camera {camera_id!r} (known: {known})")

    @property
    def gate_list(self) -> list[Gate]:
        """Every gate (none for a store without a ``gates`` section)."""
        return self.gates.gates if self.gates is not None else []

    def gate(self, gate_id: str) -> Gate:
        """The gate with this id; KeyError naming the known ones."""
        gates = self.gate_list
        for gate in gates:
            if gate.id == gate_id:
                return gate
        known = ", ".join(g.id for g in gates) or "none"
        raise KeyError(f"no gate {gate_id!r} (known: {known})")

    def shelf(self, shelf_id: str) -> Shelf:
        """The shelf with this id; KeyError naming the known ones."""
        for shelf in self.shelves:
            if shelf.id == shelf_id:
                return shelf
        known = ", ".join(s.id for s in self.shelves) or "none"
        raise KeyError(f"no shelf {shelf_id!r} (known: {known})")

    def profile(self, unit_id: str) -> ScaleProfile:
        """The profile of a unit (already checked to exist at load)."""
        return get_profile(self.unit(unit_id).profile, tuple(self.profile_dirs))
