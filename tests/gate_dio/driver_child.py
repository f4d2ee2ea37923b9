"""A walkout stand-in for the watchdog test: connect a DioGate, lock, then wait to be killed.

Usage: driver_child.py PORT WATCHDOG_S. Prints "locked" once the door is locked.
"""

from __future__ import annotations

import asyncio
import sys

from devices.bus import Bus
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioWiring, get_dio_profile


async def main(port: int, watchdog_s: float) -> None:
    wiring = DioWiring(lock_coil=0, passage_input=0, module_watchdog_s=watchdog_s)
    gate = DioGate.tcp("entry", "127.0.0.1", port, Bus(), get_dio_profile("io8"), wiring)
    async with gate:
        await gate.lock()
        print("locked", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
