"""The peers (``bench/peers``) as servers of the bench run, each with the load that fits it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Load, Server, free_port
from bench.peers import catalog


@dataclass(frozen=True)
class RunningPeer:
    name: str
    server: Server
    load: Load


@contextmanager
def running_peers(work: Path) -> Iterator[list[RunningPeer]]:
    """fastapi-users (JWT) and DRF + djangorestframework-api-key, seeded and serving."""
    catalog.ensure_venv()
    labels = {"fastapi-users": "fastapi-users JWT", "drf-api-key": "drf-api-key"}
    with ExitStack() as stack:
        running = []
        for prepare in (catalog.fastapi_users, catalog.drf_api_key):
            port = free_port()
            peer = prepare(work / prepare.__name__, port)
            server = Server(
                name=peer.name,
                argv=peer.argv,
                port=port,
                env=peer.env,
                ready_path=peer.path,
                ready_headers=peer.headers,
            )
            stack.enter_context(server)
            running.append(
                RunningPeer(labels[peer.name], server, Load(peer.path, headers=peer.headers))
            )
        yield running
