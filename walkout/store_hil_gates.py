"""The gates of a hardware-in-the-loop run: the digital-I/O simulator and what feeds it.

The store's entry and exit are the two default doors of one simulated
digital-I/O module (``python -m sim_devices.dio serve``, its own process),
reached over Modbus TCP by the runtime's own gate wiring: ``DioGate``
drivers and the ``GateMachine``, configured from the store config like any
store's, with an allow-list check written from the run's credentials.

A DIO gate has no reader, so a credential reaches the machine as the store
app's QR check-in would hand it over: :class:`AppReader` publishes
``CredentialPresented`` on the runtime's bus. The machine names the session
itself (the allow list gives each admission a fresh id) and puts only a
redacted credential in ``Admitted``; the reader remembers what it presented,
so an ``Admitted`` can be traced back to its credential, and the credential
to the simulator's session for scoring.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from devices.bus import Bus
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Admitted
from sim_devices.process import SimulatorProcess
from sim_devices.store_sim import GateRecord, Record
from sim_devices.store_sim.scenario import StoreScenario

DIO_BUS = "gate-io"
"""The config's Modbus bus to the digital-I/O simulator."""

ENTRY_DOOR, EXIT_DOOR = "entry", "exit"
"""The simulator's default doors: entry on relay DO1 and beam DI1; exit on DO2, DI2, button DI3."""

EXIT_BUTTON_LEAD_S = 1.0
"""How long before walking out a shopper presses the exit button.

The press must be polled (20 Hz, 40 ms debounce), reach the machine and
come back as a pulse on the exit's relay before the person walks: about a
tenth of a second on loopback, so a second leaves room for a busy loop.
"""

READY_TIMEOUT_S = 30.0


def dio_process() -> SimulatorProcess:
    """``python -m sim_devices.dio serve``: the default module, its entry and exit doors.

    Its own process, like the shelf simulator's, so the module's timers and
    the doors' beams run on a loop the runtime's polling does not share.
    """
    return SimulatorProcess(command=("sim_devices.dio", "serve"), ready_timeout_s=READY_TIMEOUT_S)


def admissions(records: Iterable[Record]) -> dict[str, tuple[str | None, int]]:
    """Credential -> (the simulator's session, group size), from the run's admit records."""
    return {
        r.credential: (r.session_ref, r.group_size)
        for r in records
        if isinstance(r, GateRecord) and r.kind == "admit" and r.credential
    }


def write_allow_list(path: Path, credentials: Mapping[str, tuple[str | None, int]]) -> None:
    """The allow-list file (YAML, with group sizes) the gate machine's check reads."""
    entries = [{"credential": c, "group_size": size} for c, (_, size) in credentials.items()]
    path.write_text(yaml.safe_dump({"credentials": entries}, sort_keys=False), encoding="utf-8")


def gates_config(store: StoreScenario, allow_list: Path) -> dict[str, Any]:
    """The config's ``gates`` section: the floor's entry and exit on the simulator's doors.

    Gate ids are the floor's, so the machine's messages name the gates the
    track sessions know. Both gates share the module (one unit on
    :data:`DIO_BUS`); maglocks, energised to lock, as the simulator wires them.
    """
    floor = store.floor
    return {
        "check": {"type": "allow_list", "path": str(allow_list)},
        "gates": [
            {
                "id": floor.entry.gate_id,
                "role": "entry",
                "controller": {
                    "type": "dio",
                    "bus": DIO_BUS,
                    "wiring": {"lock_coil": 0, "passage_input": 0},
                },
            },
            {
                "id": floor.exit.gate_id,
                "role": "exit",
                "controller": {
                    "type": "dio",
                    "bus": DIO_BUS,
                    "wiring": {"lock_coil": 1, "passage_input": 1, "exit_request_input": 2},
                },
            },
        ],
    }


class AppReader:
    """Hands credentials to the gate machine over the bus, as the store app's check-in does.

    Driven like a simulator's control client (``request(cmd="present", gate=,
    credential=)``, see :func:`sim_devices.store_sim.hil.app_credential`).
    """

    def __init__(self, bus: Bus, credentials: Mapping[str, tuple[str | None, int]]) -> None:
        self.bus = bus
        self.credentials = credentials
        self.presented: list[CredentialPresented] = []
        """Presented and not yet traced back to an ``Admitted``."""

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Publish one credential at its gate, stamped now."""
        if cmd != "present":
            raise ValueError(f"the app reader only presents credentials, not {cmd!r}")
        message = CredentialPresented(
            source=str(fields["gate"]),
            t_mono=time.monotonic(),
            kind=CredentialKind.QR,
            credential=str(fields["credential"]),
        )
        self.presented.append(message)
        await self.bus.publish(message)
        return {"ok": True}

    def session_ref(self, admitted: Admitted) -> str | None:
        """The simulator's session of the credential ``admitted`` was for (None: not ours).

        Among credentials presented at its gate with its redacted form, the
        one presented when the machine says it was (the door opened
        ``latency_s`` after the read).
        """
        read_t = admitted.t_mono - admitted.latency_s
        matching = [
            p
            for p in self.presented
            if p.source == admitted.source and p.redacted == admitted.credential
        ]
        if not matching:
            return None
        presented = min(matching, key=lambda p: abs(p.t_mono - read_t))
        self.presented.remove(presented)
        return self.credentials.get(presented.credential, (None, 0))[0]
