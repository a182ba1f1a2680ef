"""Who the client is: the socket peer, or what a trusted proxy says it forwarded for."""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

from vbauth.settings import Network


def client_address(peer: str, forwarded_for: str | None, networks: list[Network]) -> str:
    """The caller's address: ``X-Forwarded-For`` counts only when a trusted proxy sent it.

    The reference trusts CF-Connecting-IP from anyone; here a header counts only when the peer
    is one of ``trusted_proxies``, and then the rightmost address not itself a trusted proxy wins.
    """
    if not networks or not forwarded_for or not _in_networks(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _in_networks(hop, networks):
            return hop
    return peer


def scope_client(scope: Scope, networks: list[Network]) -> str:
    """``client_address`` of an ASGI scope, reading its raw headers only when it must."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not networks:
        return peer
    # Every line, in order: a proxy may add its own line after the client's (HAProxy does),
    # and the rightmost address is the one a trusted proxy vouches for.
    lines = [
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    ]
    return client_address(peer, ", ".join(lines) or None, networks)


def _in_networks(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def bucket_key(address: str) -> str:
    """The rate-limit key of an address: itself for IPv4, its /64 for IPv6 (one subscriber
    holds a whole /64, and would otherwise have a bucket per address)."""
    if ":" not in address:
        return address
    try:
        network = ipaddress.IPv6Network(f"{address}/64", strict=False)
    except ValueError:
        return address
    return str(network)
