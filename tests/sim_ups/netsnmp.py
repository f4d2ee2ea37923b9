"""net-snmp command line tools as the independent SNMP manager in tests.

Output is requested as ``-On -Oq -Ot -Oe``: numeric OIDs, ``OID value`` per
line, raw timeticks, numeric enums, so values compare without any MIB files
(UPS-MIB is not installed on Debian by default).
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

import pytest

NET_SNMP = ("snmpget", "snmpgetnext", "snmpwalk", "snmpbulkwalk", "snmpset", "snmptrapd")

needs_net_snmp = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in NET_SNMP), reason="net-snmp tools not installed"
)

FORMAT = ("-On", "-Oq", "-Ot", "-Oe", "-m", "", "-M", "/dev/null")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def values(self) -> dict[str, str]:
        """``{"1.3.6...": "value"}`` from ``-Oq`` lines (leading dot dropped, quotes kept)."""
        found: dict[str, str] = {}
        for line in self.out.splitlines():
            if not line.startswith("."):
                continue
            name, _, value = line.partition(" ")
            found[name[1:]] = value.strip()
        return found


async def run(*argv: str, timeout_s: float = 20.0) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def snmp(
    tool: str,
    port: int,
    *args: str,
    version: str = "2c",
    community: str = "public",
    timeout_s: float = 1.0,
    retries: int = 1,
) -> Result:
    """Run one net-snmp tool against 127.0.0.1:``port``."""
    return await run(
        tool,
        f"-v{version}",
        "-c",
        community,
        "-t",
        str(timeout_s),
        "-r",
        str(retries),
        *FORMAT,
        f"127.0.0.1:{port}",
        *args,
    )
