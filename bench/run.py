"""``make bench``: vbauth end to end, against a floor and peers measured in the same run.

    make bench                               # the full run (about 10 minutes)
    .venv/bin/python -m bench.run --quick    # the CI guard's short run (about 3 minutes)

Real servers on loopback, loaded by wrk. Every throughput figure is the median of interleaved
rounds, printed with its ratio to a baseline of the same run and the server's CPU per request.
The table is also written as JSON (``--json``, default ``var/bench.json``). With ``--guard``
the run fails when a ratio falls below half its target (or a bound is exceeded twice over).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import extras, peers_runner
from bench.fixtures import (
    CALLS,
    REDIS_URL,
    Credentials,
    demo_upstream_server,
    floor_server,
    fresh_postgres_database,
    identity_header_for,
    routes_file,
    seed,
    vbauth_server,
)
from bench.harness import Load, Server, WrkResult, ensure_wrk, wrk
from bench.rows import Row, ratio_row

FLOOR = "starlette GET /ping"
UPSTREAM = "upstream alone GET /v1.0/calls"


@dataclass(frozen=True)
class Case:
    """One load against one server, measured once per round."""

    label: str
    server: Server
    load: Load
    connections: int = 64
    threads: int = 1


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def verify_load(path: str, credential: dict[str, str]) -> Load:
    """Forward-auth as nginx asks it: the original URI in a header."""
    return Load("/auth/verify", headers={"X-Original-URI": path, **credential})


def vbauth_cases(db: str, server: Server, creds: Credentials) -> list[Case]:
    return [
        Case(f"{db} GET /ping", server, Load("/ping")),
        Case(f"{db} verify JWT", server, verify_load(CALLS, bearer(creds.token))),
        Case(f"{db} verify accesskey", server, verify_load(CALLS, bearer(creds.accesskey))),
        Case(
            f"{db} verify direct", server, verify_load("/v1.0/aicalls", bearer(creds.direct_token))
        ),
        Case(f"{db} GET /v1.0/me", server, Load("/v1.0/me", headers=bearer(creds.token))),
        Case(
            f"{db} GET /v1.0/customer",
            server,
            Load(f"/v1.0/customer?accesskey={creds.accesskey}"),
        ),
    ]


def run_rounds(
    cases: list[Case],
    *,
    rounds: int,
    seconds: float,
    fresh_headers: dict[str, Callable[[], dict[str, str]]],
) -> dict[str, WrkResult]:
    """Each case once per round, rounds interleaved; the median round of each case wins.

    ``fresh_headers`` re-makes a case's headers before each round (short-lived credentials).
    """
    results: dict[str, list[WrkResult]] = {case.label: [] for case in cases}
    for number in range(rounds):
        for case in cases:
            load = case.load
            if case.label in fresh_headers:
                load = replace(load, headers=fresh_headers[case.label]())
            result = wrk(
                case.server,
                load,
                seconds=seconds,
                connections=case.connections,
                threads=case.threads,
            )
            if result.bad:
                raise SystemExit(f"{case.label}: {result.bad} bad answers in round {number + 1}")
            results[case.label].append(result)
            print(f"  round {number + 1} {case.label:<36} {result.rps:>9.0f} req/s", flush=True)
    return {
        label: sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
        for label, runs in results.items()
    }


def throughput_rows(results: dict[str, WrkResult]) -> list[Row]:
    """Every throughput figure, each with the ratio the issue sets for it."""
    rows: list[Row] = []

    def rate(
        label: str, baseline: str = "", target: float | None = None, *, guarded: bool = True
    ) -> None:
        result = results.get(label)
        if result is None:
            return
        if baseline not in results:
            rows.append(Row(label, result.rps, "req/s", cpu_us=result.cpu_us))
            return
        base = (baseline, results[baseline].rps)
        rows.append(
            ratio_row(
                label,
                result.rps,
                "req/s",
                baseline=base,
                target=target,
                cpu_us=result.cpu_us,
                guarded=guarded,
            )
        )

    rate(FLOOR)
    for db in ("sqlite", "postgres"):
        rate(f"{db} GET /ping", FLOOR, 0.6)
        for kind in ("JWT", "accesskey", "direct"):
            # Against vbauth's own /ping the target stands (and is reported) but CI does not
            # guard it: a cheaper /ping lowers that ratio without verify getting any slower,
            # and a guard must not fire on an improvement. Verify is guarded against the
            # floor, which no change of ours moves (docs/performance.md, "The log writer").
            rate(f"{db} verify {kind}", f"{db} GET /ping", 0.85, guarded=False)
            rate(f"{db} verify {kind}", FLOOR, 0.5)
    rate("peer fastapi-users JWT")
    rate("peer drf-api-key")
    for db in ("sqlite", "postgres"):
        rate(f"{db} GET /v1.0/me", "peer fastapi-users JWT", 10)
        rate(f"{db} GET /v1.0/customer", "peer drf-api-key", 10)
    for endpoint in (
        "verify JWT",
        "verify accesskey",
        "verify direct",
        "GET /v1.0/me",
        "GET /v1.0/customer",
    ):
        rate(f"postgres {endpoint}", f"sqlite {endpoint}", 0.8)
    rate(UPSTREAM)
    rate("gateway GET /v1.0/calls", UPSTREAM, 0.5)
    rate("1 worker verify JWT")
    rate("2 workers verify JWT", "1 worker verify JWT", 1.7)
    return rows


def print_table(rows: list[Row], machine: str) -> None:
    print(f"\nvbauth bench, {machine}")
    header = f"{'what':<52} {'value':>14} {'CPU/req':>8} {'ratio':>6} {'target':>11}"
    print(header + "  vs")
    print("-" * (len(header) + 30))
    for row in rows:
        cpu = f"{row.cpu_us:.0f} µs" if row.cpu_us else ""
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        mark = {True: "ok", False: "MISS", None: ""}[row.ok]
        unit = "/s" if row.unit == "req/s" else f" {row.unit}"
        value = f"{row.value:,.0f}{unit}" if row.value >= 100 else f"{row.value:.2f}{unit}"
        print(
            f"{row.label:<52} {value:>14} {cpu:>8} {ratio:>6} {row.target:>11} {mark:<4}"
            f"  {row.baseline}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short run CI guards with")
    parser.add_argument("--guard", action="store_true", help="fail below half of any target")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--json", type=Path, default=Path("var/bench.json"))
    args = parser.parse_args(argv)
    # Quick is still five rounds of two seconds: the median shrugs off a round that something
    # else on the machine slowed down. Three one-second rounds proved too few for the guard on
    # two cores (the load generator shares them): its ratios swung by a third from run to run.
    rounds = args.rounds or (5 if args.quick else 3)
    seconds = args.seconds or (2 if args.quick else 5)
    ensure_wrk()

    with tempfile.TemporaryDirectory(prefix="vbauth-bench-") as scratch, ExitStack() as stack:
        work = Path(scratch)
        servers = start_servers(stack, work, with_peers=not args.quick)
        results = run_rounds(
            servers.cases,
            rounds=rounds,
            seconds=seconds,
            fresh_headers={UPSTREAM: lambda: identity_header_for(servers.sqlite_creds)},
        )
        rows = throughput_rows(results)
        rows += extras.login_rows(servers.sqlite, seconds=max(seconds * 2, 4))
        rows += extras.cold_rows(work)
        if not args.quick:  # a million rows take a minute to write
            rows += extras.scale_rows(work)
        rows += extras.revocation_rows(work, samples=10 if args.quick else 100)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print_table(rows, machine)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine,
        "rounds": rounds,
        "seconds": seconds,
        "rows": [asdict(row) for row in rows],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    missed = [row.label for row in rows if row.ok is False]
    print(f"\n{len(rows)} figures, {len(missed)} below target" + (f": {missed}" if missed else ""))
    if args.guard:
        broken = [row.label for row in rows if row.guard_ok is False]
        if broken:
            print(f"GUARD: beyond half the target: {broken}", file=sys.stderr)
            return 1
    return 0


@dataclass
class Servers:
    cases: list[Case]
    sqlite: Server
    sqlite_creds: Credentials


def start_servers(stack: ExitStack, work: Path, *, with_peers: bool) -> Servers:
    """Every server of the run, started and seeded, and the cases that load them."""
    upstream = stack.enter_context(demo_upstream_server(work / "upstream"))
    routes = str(routes_file(work, upstream.base))
    sqlite = stack.enter_context(
        vbauth_server("sqlite", work / "sqlite", VBAUTH_ROUTES_FILE=routes)
    )
    postgres_url = fresh_postgres_database("vbauth_bench")
    postgres = stack.enter_context(
        vbauth_server(
            "postgres",
            work / "postgres",
            VBAUTH_DATABASE_URL=postgres_url,
            VBAUTH_ROUTES_FILE=routes,
        )
    )
    scaling = {"VBAUTH_REDIS_URL": REDIS_URL, "VBAUTH_ROUTES_FILE": routes}
    one = stack.enter_context(vbauth_server("1w", work / "workers", **scaling))
    two = stack.enter_context(vbauth_server("2w", work / "workers", workers=2, **scaling))
    floor = stack.enter_context(floor_server())
    sqlite_creds, postgres_creds, scale_creds = seed(sqlite), seed(postgres), seed(one)

    cases = [Case(FLOOR, floor, Load("/ping"))]
    cases += vbauth_cases("sqlite", sqlite, sqlite_creds)
    cases += vbauth_cases("postgres", postgres, postgres_creds)
    if with_peers:
        for peer in stack.enter_context(peers_runner.running_peers(work / "peers")):
            cases.append(Case(f"peer {peer.name}", peer.server, peer.load))
    cases.append(Case("gateway GET /v1.0/calls", sqlite, Load(CALLS, bearer(sqlite_creds.token))))
    # The identity header lives 60 s: minted again before each round (fresh_headers).
    cases.append(Case(UPSTREAM, upstream, Load(CALLS, identity_header_for(sqlite_creds))))
    scale_load = verify_load(CALLS, bearer(scale_creds.token))
    cases.append(Case("1 worker verify JWT", one, scale_load, connections=128, threads=2))
    cases.append(Case("2 workers verify JWT", two, scale_load, connections=128, threads=2))
    return Servers(cases, sqlite, sqlite_creds)


if __name__ == "__main__":
    sys.exit(main())
