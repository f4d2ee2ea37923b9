"""``walkout scan snmp`` and ``walkout snmp dump``: find SNMP agents, record a UPS as a fixture.

How a scan finds agents is in ``walkout.cli.snmp_scan``; how a walk becomes a
redacted snmpsim recording is in ``walkout.cli.snmprec``. Keys for SNMPv3 come
from environment variables named on the command line, never from the command
line itself (it is visible to every user of the machine in ``ps``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
import yaml
from rich.progress import Progress
from rich.table import Table as RichTable
from rich.text import Text

from devices.errors import DeviceProtocolError
from devices.snmp import (
    AuthProtocol,
    Community,
    Credentials,
    PrivProtocol,
    SnmpClient,
    SnmpTarget,
    SnmpValue,
    UsmUser,
    normalize_oid,
)
from devices.ups.profile import ResolvedProfile, builtin_ups_profiles
from devices.ups.snmp_fixture import Redactor, fixture_header, write_snmprec
from walkout.cli.common import (
    CONFIG_OPTION,
    EXIT_CONFIG,
    EXIT_DEVICE,
    console,
    err_console,
    fail,
    load,
    run_device_call,
)
from walkout.cli.snmp_scan import (
    AUTH_PROTOCOLS,
    PRIV_PROTOCOLS,
    Address,
    Found,
    Outcome,
    Prober,
    identify,
    match_profile,
    parse_targets,
)
from walkout.config import SecretError
from walkout.config import SnmpUps as SnmpUpsConfig
from walkout.ups_wiring import snmp_credentials

app = typer.Typer(help="SNMP agents: record one as a fixture.", no_args_is_help=True)

EXIT_NONE_FOUND = 1

DUMP_SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.33", "1.3.6.1.4.1")
"""What a dump walks: the system group, UPS-MIB, and all of enterprises, where a UPS card
keeps its vendor MIBs (PowerNet 318, XUPS 534 ...): every vendor subtree the card has."""

DUMP_REPETITIONS = 25
"""GETBULK size for the dump: 25 varbinds of a UPS MIB stay well under a 1472-byte answer."""

P = TypeVar("P", AuthProtocol, PrivProtocol)


# --- scan ----------------------------------------------------------------------------------------


def _progress() -> Progress:
    """A progress bar on a terminal; nothing in a pipe or a log (not even a blank line)."""
    return Progress(console=console, transient=True, disable=not console.is_terminal)


def _secret_from_env(name: str | None, option: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise fail(f"environment variable {name} (named by {option}) is not set", EXIT_CONFIG)
    return value


def _protocol(name: str | None, known: Mapping[str, P], option: str) -> P | None:
    if name is None:
        return None
    try:
        return known[name.lower()]
    except KeyError:
        raise fail(
            f"{option} must be one of {', '.join(known)}, not {name!r}", EXIT_CONFIG
        ) from None


def scan_credentials(
    communities: Sequence[str],
    snmp_version: str | None,
    v3_user: str | None,
    auth_protocol: str | None,
    auth_key_env: str | None,
    priv_protocol: str | None,
    priv_key_env: str | None,
    context: str | None,
) -> list[Credentials]:
    """The credentials to try, in order, from the options (v3 keys from the environment)."""
    v3_options = {
        "--auth-protocol": auth_protocol,
        "--auth-key-env": auth_key_env,
        "--priv-protocol": priv_protocol,
        "--priv-key-env": priv_key_env,
        "--context": context,
    }
    if v3_user is None:
        given = [name for name, value in v3_options.items() if value is not None]
        if given:
            raise fail(f"{', '.join(given)}: only with --v3-user", EXIT_CONFIG)
        version: Literal["1", "2c"]
        if snmp_version in (None, "2c"):
            version = "2c"
        elif snmp_version == "1":
            version = "1"
        else:
            raise fail(f"--snmp-version must be 1 or 2c, not {snmp_version!r}", EXIT_CONFIG)
        try:
            return [Community(c, version) for c in (communities or ["public"])]
        except ValueError as exc:
            raise fail(f"--community: {exc}", EXIT_CONFIG) from None
    if communities:
        raise fail("give either --community or --v3-user, not both", EXIT_CONFIG)
    if snmp_version is not None:
        raise fail("--snmp-version is for communities; --v3-user is SNMPv3", EXIT_CONFIG)
    auth_name = auth_protocol or ("sha" if auth_key_env else None)
    priv_name = priv_protocol or ("aes" if priv_key_env else None)
    try:
        return [
            UsmUser(
                v3_user,
                auth_protocol=_protocol(auth_name, AUTH_PROTOCOLS, "--auth-protocol"),
                auth_key=_secret_from_env(auth_key_env, "--auth-key-env"),
                priv_protocol=_protocol(priv_name, PRIV_PROTOCOLS, "--priv-protocol"),
                priv_key=_secret_from_env(priv_key_env, "--priv-key-env"),
                context_name=context or "",
            )
        ]
    except ValueError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None


def credentials_label(creds: Credentials) -> str:
    """Which credentials worked, for the table: communities the installer typed, no keys."""
    if isinstance(creds, Community):
        return f"v{creds.version} community {creds.community!r}"
    context = f", context {creds.context_name!r}" if creds.context_name else ""
    return f"v3 user {creds.user!r} ({creds.security_level}{context})"


def store_entry(
    found: Found, ups_id: str, auth_key_env: str | None, priv_key_env: str | None
) -> dict[str, Any] | None:
    """A ``facility.ups`` item for a UPS the scan found; None where store.yaml cannot say it.

    Keys stay references to the environment variables the scan read them from.
    """
    creds, resolved = found.credentials, found.resolved
    if creds is None or resolved is None:
        return None
    agent: dict[str, Any] = {"host": found.address.host, "port": found.address.port}
    if isinstance(creds, Community):
        agent |= {"version": creds.version, "community": creds.community}
    else:
        if creds.auth_protocol is None or creds.priv_protocol is None or creds.context_name:
            return None  # store.yaml's SNMPv3 is authPriv in the default context
        agent |= {
            "version": "3",
            "v3": {
                "user": creds.user,
                "auth_protocol": creds.auth_protocol.name.lower(),
                "auth_key": {"env": auth_key_env},
                "priv_protocol": creds.priv_protocol.name.lower(),
                "priv_key": {"env": priv_key_env},
            },
        }
    return {"id": ups_id, "type": "snmp", "agent": agent, "profile": resolved.profile.name}


def scan_snmp(
    hosts: Annotated[
        list[str],
        typer.Argument(
            help="IPv4 addresses, host names, CIDR ranges (10.0.0.0/28) or dash ranges "
            "(10.0.0.10-20), each optionally with :PORT",
            show_default=False,
        ),
    ],
    port: Annotated[int, typer.Option(help="UDP port of the agents", min=1, max=65535)] = 161,
    community: Annotated[
        list[str] | None,
        typer.Option(help="v1/v2c community, repeatable, tried in order [default: public]"),
    ] = None,
    snmp_version: Annotated[
        str | None, typer.Option(help="1 or 2c, for the communities [default: 2c]")
    ] = None,
    v3_user: Annotated[str | None, typer.Option(help="SNMPv3 user instead of communities")] = None,
    auth_protocol: Annotated[
        str | None, typer.Option(help=f"SNMPv3 auth: {', '.join(AUTH_PROTOCOLS)} [default: sha]")
    ] = None,
    auth_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the SNMPv3 auth key")
    ] = None,
    priv_protocol: Annotated[
        str | None,
        typer.Option(help=f"SNMPv3 privacy: {', '.join(PRIV_PROTOCOLS)} [default: aes]"),
    ] = None,
    priv_key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the SNMPv3 privacy key")
    ] = None,
    context: Annotated[str | None, typer.Option(help="SNMPv3 context name")] = None,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for each answer", min=0.05, max=30)
    ] = 1.0,
    retries: Annotated[int, typer.Option(help="extra tries per request", min=0, max=5)] = 1,
    concurrency: Annotated[
        int, typer.Option(help="addresses asked at the same time", min=1, max=256)
    ] = 64,
) -> None:
    """List the SNMP agents that answer, the credentials that worked and the profile each matches.

    Exit status 0 when at least one agent answered, 1 when none did.
    """
    try:
        addresses = parse_targets(hosts, port)
    except ValueError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    candidates = scan_credentials(
        community or [],
        snmp_version,
        v3_user,
        auth_protocol,
        auth_key_env,
        priv_protocol,
        priv_key_env,
        context,
    )
    profiles = list(builtin_ups_profiles().values())
    results: dict[Address, Found] = {}
    silent: list[Address] = []
    unresolved: list[str] = []

    async def scan_all() -> None:
        gate = asyncio.Semaphore(concurrency)
        with _progress() as progress:
            task = progress.add_task("scanning", total=len(addresses))
            async with Prober(candidates, timeout, retries) as prober:

                async def one(address: Address) -> None:
                    async with gate:
                        progress.update(task, description=f"scanning {address.label}")
                        probe = await prober.probe(address)
                        if probe.outcome is Outcome.SILENT:
                            silent.append(address)
                        elif probe.outcome is Outcome.UNRESOLVED:
                            unresolved.append(probe.reason)
                        else:
                            results[address] = await identify(probe, profiles, timeout, retries)
                        progress.advance(task)

                async with asyncio.TaskGroup() as group:
                    for address in addresses:
                        group.create_task(one(address), name=f"scan:{address.label}")

    run_device_call(scan_all())
    for reason in unresolved:
        err_console.print(reason, style="yellow", highlight=False, markup=False)
    answered = [results[a] for a in addresses if a in results]
    readable = [f for f in answered if f.credentials is not None]
    if answered:
        _print_table(answered)
    summary = (
        f"{len(readable)} of {len(addresses)} address(es) answered; {len(silent)} silent "
        "(no agent, unreachable, or none of the credentials)"
    )
    if len(answered) > len(readable):
        summary += f"; {len(answered) - len(readable)} refused the credentials"
    if unresolved:
        summary += f"; {len(unresolved)} name(s) not resolved"
    console.print(summary, highlight=False, markup=False)
    _print_store_entries(readable, auth_key_env, priv_key_env)
    if not readable:
        raise typer.Exit(EXIT_NONE_FOUND)


def _print_table(answered: Sequence[Found]) -> None:
    table = RichTable("agent", "credentials", "sysName", "sysObjectID", "profile", "unit")
    table.add_column("sysDescr", no_wrap=True, overflow="ellipsis", max_width=60)
    for found in answered:
        profile, unit = "unknown SNMP device", found.problem
        if found.credentials is None:
            credentials, profile = f"refused: {found.problem}", "-"
            unit = ""
        else:
            credentials = credentials_label(found.credentials)
        if found.resolved is not None:
            identity = found.resolved.identity
            profile = f"{found.resolved.profile.name} (UPS)"
            unit = " ".join(p for p in (identity.manufacturer, identity.model) if p)
            if found.resolved.quirks:
                unit += f" (quirks: {', '.join(found.resolved.quirks)})"
        elif found.problem and found.credentials is not None:
            profile = "?"
        # Text, not str: what an agent says about itself is not rich markup ("[/]" would raise).
        cells = (
            found.address.label,
            credentials,
            found.sys_name,
            found.sys_object_id,
            profile,
            unit,
            " ".join(found.sys_descr.split()),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table, highlight=False)


def _print_store_entries(
    readable: Sequence[Found], auth_key_env: str | None, priv_key_env: str | None
) -> None:
    """One line per UPS: the item to put under ``facility.ups`` in store.yaml."""
    upses = [f for f in readable if f.resolved is not None]
    for n, found in enumerate(upses, start=1):
        entry = store_entry(found, f"ups-{n}", auth_key_env, priv_key_env)
        if entry is None:
            console.print(
                f"{found.address.label}: no store.yaml entry suggested: store.yaml's SNMPv3 "
                "is authPriv (auth and privacy keys) in the default context",
                highlight=False,
                markup=False,
            )
            continue
        item = yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=10**6)
        console.print(
            f"store.yaml facility.ups item for {found.address.label}: - {item.strip()}",
            highlight=False,
            markup=False,
        )


# --- dump ----------------------------------------------------------------------------------------


def _ups_config(device: str, config: Path) -> SnmpUpsConfig:
    cfg = load(config)
    for ups in cfg.facility.ups:
        if ups.id != device:
            continue
        if not isinstance(ups, SnmpUpsConfig):
            raise fail(
                f"UPS {device!r} is read through NUT (type {ups.type}); dump reads SNMP agents",
                EXIT_CONFIG,
            )
        return ups
    known = ", ".join(u.id for u in cfg.facility.ups if isinstance(u, SnmpUpsConfig)) or "none"
    raise fail(f"no SNMP UPS {device!r} in facility.ups (known: {known})", EXIT_CONFIG)


def _subtrees(extra: Sequence[str]) -> list[str]:
    subtrees = list(DUMP_SUBTREES)
    for oid in extra:
        try:
            subtrees.append(normalize_oid(oid))
        except ValueError as exc:
            raise fail(f"--subtree: {exc}", EXIT_CONFIG) from None
    return list(dict.fromkeys(subtrees))


async def walk_agent(
    client: SnmpClient, subtrees: Sequence[str], max_objects: int, progress: Progress
) -> dict[str, SnmpValue]:
    """Every object under ``subtrees``; more than ``max_objects`` is an error (exit 3)."""
    objects: dict[str, SnmpValue] = {}
    task = progress.add_task(f"walking {client.device}", total=len(subtrees))
    for root in subtrees:
        progress.update(task, description=f"walking {client.device} {root}")
        budget = max_objects - len(objects)
        try:
            rows = await client.walk(root, max_rows=budget)
        except DeviceProtocolError as exc:
            if exc.expected != f"at most {budget} rows":
                raise
            raise fail(
                f"{client.device} has more than {max_objects} objects under "
                f"{', '.join(subtrees)}: raise --max-objects or walk less",
                EXIT_DEVICE,
            ) from None
        objects.update((oid, value) for oid, value in rows if value is not None)
        progress.advance(task)
    return objects


def _profile_key(resolved: ResolvedProfile | None) -> tuple[str, tuple[str, ...]] | None:
    return None if resolved is None else (resolved.profile.name, resolved.quirks)


def dump_snmp(
    device: Annotated[str, typer.Argument(help="UPS id from store.yaml (type snmp), e.g. ups-1")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="fixture to write: NAME.snmprec", show_default=False),
    ],
    config: Path = CONFIG_OPTION,
    subtree: Annotated[
        list[str] | None,
        typer.Option(help="another subtree (OID) to walk too, repeatable, e.g. 1.3.6.1.2.1.2"),
    ] = None,
    max_objects: Annotated[
        int, typer.Option(help="stop with an error past this many objects", min=1)
    ] = 50_000,
) -> None:
    """Walk one UPS agent and write a redacted snmpsim recording (.snmprec) of it.

    snmpsim serves the file under the community NAME (the file name without
    .snmprec), so the UPS driver, the tests and the bench can replay the unit.
    """
    if not output.name.endswith(".snmprec") or output.name == ".snmprec":
        raise fail(f"{output}: name the fixture NAME.snmprec (snmpsim's format)", EXIT_CONFIG)
    if not output.parent.is_dir():
        raise fail(f"{output.parent}: no such directory", EXIT_CONFIG)
    ups = _ups_config(device, config)
    try:
        creds = snmp_credentials(ups.agent)
    except (SecretError, ValueError) as exc:
        raise fail(f"facility.ups {device}: {exc}", EXIT_CONFIG) from None
    subtrees = _subtrees(subtree or [])
    agent = ups.agent
    target = SnmpTarget(
        agent.host,
        agent.port,
        timeout_s=agent.timeout_s,
        retries=agent.retries,
        max_repetitions=DUMP_REPETITIONS,
    )

    async def walk() -> dict[str, SnmpValue]:
        with _progress() as progress:
            async with SnmpClient(target, creds, device=device) as client:
                return await walk_agent(client, subtrees, max_objects, progress)

    objects = run_device_call(walk())
    if not objects:
        raise fail(f"{device}: the agent has no object under {', '.join(subtrees)}", EXIT_DEVICE)
    profiles = builtin_ups_profiles()
    candidates = list(profiles.values()) if ups.profile == "auto" else [profiles[ups.profile]]
    resolved = match_profile(objects, candidates)
    redactor = Redactor(secrets=(creds.community,) if isinstance(creds, Community) else ())
    redacted = redactor.redact(objects)
    header = fixture_header(
        device,
        "v3" if isinstance(creds, UsmUser) else f"v{creds.version}",
        resolved,
        subtrees,
        len(redacted),
        redactor.redactions,
    )
    replayed = match_profile(redacted, candidates)
    if _profile_key(replayed) != _profile_key(resolved):
        # A quirk that matches on sysDescr text may no longer match once a serial is out.
        warning = (
            f"the redacted fixture matches profile {_profile_key(replayed)} where the unit "
            f"matches {_profile_key(resolved)}: a replay will not behave exactly like the unit"
        )
        header.append(f"warning: {warning}")
        err_console.print(f"{device}: {warning}", style="yellow", highlight=False, markup=False)
    write_snmprec(output, header, redacted)
    if resolved is None:
        err_console.print(
            f"{device}: none of walkout's UPS profiles matches this agent; dumped it anyway",
            style="yellow",
            highlight=False,
            markup=False,
        )
    kinds = sorted({r.what for r in redactor.redactions})
    console.print(
        f"wrote {output}: {len(redacted)} objects, "
        f"profile {resolved.profile.name if resolved else 'none'}, "
        f"{len(redactor.redactions)} value(s) redacted"
        + (f" ({'; '.join(kinds)})" if kinds else ""),
        highlight=False,
        markup=False,
    )
    console.print(
        f"snmpsim serves it from --data-dir={output.parent} as community "
        f"{output.name.removesuffix('.snmprec')}",
        highlight=False,
        markup=False,
    )


app.command("dump")(dump_snmp)
