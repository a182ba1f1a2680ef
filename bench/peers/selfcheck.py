"""Check that every peer in catalog.py installs, seeds, serves and takes load. Stdlib only.

    .venv/bin/python bench/peers/selfcheck.py [--duration 5s]

For each peer, in a temporary directory: prepare it, start it, wait until it answers, require
``GET /protected`` to be 200 with the credential and 401/403 without it, run
``wrk -t1 -c64`` with the credential (every response must be 2xx, or the req/s would measure
rejections), print req/s, and stop the server with SIGTERM. Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog  # found through the line above, wherever the repo is cloned

WRK = "/usr/bin/wrk"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class CheckFailed(Exception):
    """A peer did not behave as the bench needs."""


def free_port() -> int:
    """A port nothing listens on now; the kernel picks it."""
    with socket.socket() as probe:
        probe.bind((catalog.HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def get(port: int, path: str, headers: dict[str, str]) -> int:
    """The status of one GET, on a new connection."""
    connection = http.client.HTTPConnection(catalog.HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def wait_until_answering(server: subprocess.Popen[bytes], peer: catalog.Peer, port: int) -> None:
    """Poll until the server answers HTTP at all; fail early if it exits instead."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CheckFailed(f"{peer.name} exited with {server.returncode} while starting")
        try:
            get(port, peer.path, {})
            return
        except OSError:
            time.sleep(0.1)
    raise CheckFailed(f"{peer.name} did not answer on port {port} within {START_TIMEOUT:.0f}s")


def check_statuses(peer: catalog.Peer, port: int) -> None:
    """The credential opens the endpoint; its absence is refused as unauthenticated."""
    with_credential = get(port, peer.path, peer.headers)
    without = get(port, peer.path, {})
    print(f"  GET {peer.path}: {with_credential} with the credential, {without} without")
    if with_credential != 200 or without not in (401, 403):
        raise CheckFailed(f"{peer.name}: expected 200 and 401/403")


def run_wrk(peer: catalog.Peer, port: int, duration: str) -> float:
    """wrk -t1 -c64 with the credential; returns req/s after checking nothing failed."""
    argv = [WRK, "-t1", "-c64", f"-d{duration}"]
    for name, value in peer.headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://{catalog.HOST}:{port}{peer.path}")
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for problem in ("Non-2xx or 3xx responses", "Socket errors"):
        if problem in output:
            raise CheckFailed(f"{peer.name} under wrk:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise CheckFailed(f"no Requests/sec in wrk's output:\n{output}")
    return float(match.group(1))


def stop(server: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, SIGKILL only as a last resort.

    Both servers shut down gracefully on SIGTERM; gunicorn then exits 0, while uvicorn (since
    0.29) re-raises the signal once it is done, so its clean exit reads as -SIGTERM.
    """
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise CheckFailed(f"{name} ignored SIGTERM for {STOP_TIMEOUT:.0f}s") from None
    if code not in (0, -signal.SIGTERM):
        raise CheckFailed(f"{name} exited with {code} after SIGTERM")


@contextmanager
def serving(peer: catalog.Peer, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run the peer's server for the duration of the block, its output kept in ``log``."""
    with log.open("wb") as output:
        server = subprocess.Popen(
            peer.argv, env=os.environ | peer.env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield server
        finally:
            if server.poll() is None:
                stop(server, peer.name)


def check_peer(name: str, workdir: Path, duration: str) -> None:
    """Prepare, start, probe, load and stop one peer."""
    port = free_port()
    started = time.monotonic()
    peer = catalog.PEERS[name](workdir / name, port)
    print(f"{name}: prepared in {time.monotonic() - started:.1f}s, port {port}")
    log = workdir / f"{name}.log"
    try:
        with serving(peer, log) as server:
            wait_until_answering(server, peer, port)
            check_statuses(peer, port)
            print(f"  wrk -t1 -c64 -d{duration}: {run_wrk(peer, port, duration):,.0f} req/s")
    except CheckFailed:
        print(f"--- {name}'s output:\n{log.read_text()}", file=sys.stderr)
        raise


def main() -> int:
    """Check every peer; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="5s", help="wrk's -d (default: 5s)")
    parser.add_argument("peers", nargs="*", default=list(catalog.PEERS), help="default: all")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # ordered with stderr
    started = time.monotonic()
    print(f"peers venv: {catalog.ensure_venv()} ({time.monotonic() - started:.1f}s)")
    with tempfile.TemporaryDirectory(prefix="vbauth-peers-") as scratch:
        try:
            for name in args.peers:
                check_peer(name, Path(scratch), args.duration)
        except CheckFailed as failure:
            print(f"FAIL: {failure}", file=sys.stderr)
            return 1
    print(f"all {len(args.peers)} peers OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
