"""Hardware-in-the-loop: the run's physical actions, sent to the real-protocol simulators.

In this mode the checkout side reads the devices over their real protocols
(Modbus from the shelf simulator, the gate's I/O) and the store simulator
only does what people do: it puts and lifts grams on the simulated shelves
and walks people through the gates, each at its scenario time, paced by
:func:`~sim_devices.store_sim.playback.play_realtime`. The weights the
engine then reads come from the shelf simulator's own load-cell model.

:func:`shelf_sim_scenario` builds the shelf simulator's scenario from the
store's (one Modbus TCP server, one unit per shelf, stock already on the
boards); :func:`hil_actions` turns a run into control-port requests;
:func:`drive` sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sim_devices.scenario import ItemSpec, Scenario, TcpServerSpec, UnitSpec
from sim_devices.store_sim.playback import Clock, Sleep, play_realtime
from sim_devices.store_sim.records import GateRecord, Record, StoreTruth
from sim_devices.store_sim.scenario import StoreScenario
from sim_devices.store_sim.sensors import stock_loads

Target = Literal["shelves", "reader", "entry", "exit"]


class Requester(Protocol):
    """What :func:`drive` sends to: a simulator's control client, or anything that acts alike."""

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ShelfAddress:
    """Where a shelf's scale sits in the shelf simulator: server index and unit id."""

    server: int
    unit: int


@dataclass(frozen=True)
class HilAction:
    """One control-port request, due at scenario time ``t``, for the simulator ``target``."""

    t: float
    target: Target
    request: Mapping[str, Any]


def shelf_sim_scenario(store: StoreScenario) -> tuple[Scenario, dict[str, ShelfAddress]]:
    """A shelf-simulator scenario with every shelf of ``store``, stocked; and the addresses.

    Noise and settling follow the store's scale model; units have no
    calibration errors (the store simulator's weights are calibrated grams).
    """
    model = store.sensors.scale
    units = []
    addresses = {}
    for index, shelf in enumerate(store.floor.shelves):
        items = [ItemSpec(weight_g, position_m) for weight_g, position_m in stock_loads(shelf)]
        units.append(
            UnitSpec(
                unit_id=index + 1,
                cells=shelf.cells,
                length_m=shelf.length_m,
                sigma_g=model.sigma_g,
                drift_g_per_h=model.drift_g_per_h,
                settle_ratio=model.settle_ratio,
                settle_freq_hz=model.settle_freq_hz,
                settle_tau_s=model.settle_tau_s,
                items=tuple(items),
            )
        )
        addresses[shelf.shelf_id] = ShelfAddress(0, index + 1)
    return Scenario(servers=(TcpServerSpec(units=tuple(units)),), name=store.name), addresses


def _card(record: GateRecord) -> dict[str, Any]:
    """Default credential request: the session number as a 32-bit card number."""
    number = int("".join(c for c in record.credential or "0" if c.isdigit()) or "0")
    return {"cmd": "card", "hex": f"{number & 0xFFFFFFFF:08X}", "bits": 32}


def app_credential(record: GateRecord) -> dict[str, Any]:
    """Credential request for a gate without a reader: the app's code, shown at the gate.

    A digital-I/O gate has no reader of its own; the credential reaches the
    gate machine the way a QR scanner or the store app would hand it over.
    """
    return {"cmd": "present", "gate": record.gate_id, "credential": record.credential or ""}


def hil_actions(
    truth: StoreTruth,
    records: Iterable[Record],
    shelves: Mapping[str, ShelfAddress],
    *,
    card_request: Callable[[GateRecord], dict[str, Any]] = _card,
    exit_button_lead_s: float | None = None,
) -> list[HilAction]:
    """The physical actions of a run, time-ordered.

    Takes become ``take_g`` and puts ``put`` (real grams at the real place)
    on target ``shelves``; an admission becomes a ``card`` read on target
    ``reader`` (OSDP PD simulator; ``card_request`` says how a credential is
    presented, e.g. :func:`app_credential`); entry and exit passages become
    ``walk_through`` on targets ``entry`` and ``exit`` (digital-I/O
    simulator). With ``exit_button_lead_s`` each exit passage is preceded,
    that many seconds earlier, by a ``button`` press on the exit: a locked
    exit opens on request, and the person walks once it is open.
    """
    actions: list[HilAction] = []
    for event in truth.events:
        address = shelves[event.shelf_id]
        request: dict[str, Any] = {
            "cmd": "take_g" if event.kind == "take" else "put",
            "server": address.server,
            "unit": address.unit,
            "weight_g": event.weight_g,
            "position_m": event.position_m,
        }
        if event.kind == "put":
            request["label"] = event.sku
        actions.append(HilAction(event.t, "shelves", request))
    for record in records:
        if not isinstance(record, GateRecord):
            continue
        if record.kind == "admit":
            actions.append(HilAction(record.t, "reader", card_request(record)))
        else:
            door: Target = "entry" if record.kind == "enter" else "exit"
            if door == "exit" and exit_button_lead_s is not None:
                press = {"cmd": "button", "door": door}
                actions.append(HilAction(record.t - exit_button_lead_s, door, press))
            actions.append(HilAction(record.t, door, {"cmd": "walk_through", "door": door}))
    actions.sort(key=lambda a: a.t)
    return actions


async def drive(
    actions: Iterable[HilAction],
    clients: Mapping[str, Requester],
    *,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
    speed: float = 1.0,
) -> int:
    """Send each action to its simulator's control port when due.

    Targets without a client are skipped. Returns how many requests were
    sent; a refused request raises :class:`~sim_devices.jsonlines.ControlError`.
    A shopper who finds a door still locked waits there for it to open (see
    :func:`_walk_when_open`), while the other actions go on at their times.
    """
    sent = 0
    waiting: set[asyncio.Task[None]] = set()

    async def send(action: HilAction) -> None:
        nonlocal sent
        client = clients.get(action.target)
        if client is None:
            return
        answer = await client.request(**action.request)
        sent += 1
        if action.request.get("cmd") == "walk_through" and answer.get("passed") is False:
            door = str(action.request["door"])
            waiting.add(asyncio.create_task(_walk_when_open(client, door, clock, sleep, speed)))

    try:
        await play_realtime(actions, send, clock=clock, sleep=sleep, speed=speed)
        for task in list(waiting):
            await task
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    return sent


PATIENCE_S = 5.0
"""How long a shopper waits at a locked door for it to open before giving up."""

LOOK_EVERY_S = 0.1
"""How often a waiting shopper looks whether the door has opened."""


async def _walk_when_open(
    client: Requester, door: str, clock: Clock, sleep: Sleep, speed: float
) -> None:
    """Walk through ``door`` once it is unlocked, looking every ``LOOK_EVERY_S``.

    A person at a door that is still locked (the credential check and the
    lock's write are on their way, slower on a loaded machine) waits for it
    to open, as anyone would; walking at the scheduled instant only would
    have a busy bench lose whole groups at the entry. Gives up after
    ``PATIENCE_S``: a door that never opens is the gate's fault to show.
    """
    give_up = clock() + PATIENCE_S
    while clock() < give_up:
        await sleep(LOOK_EVERY_S / speed)
        doors = (await client.request("state"))["state"]["doors"]
        if not any(d["name"] == door and not d["locked"] for d in doors):
            continue
        if (await client.request("walk_through", door=door)).get("passed"):
            return
