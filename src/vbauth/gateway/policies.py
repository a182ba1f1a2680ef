"""Route policies: which upstream serves a path, and who may pass (a TOML file)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from vbauth.identity import DirectIdentity, Identity
from vbauth.permissions import MAX_PERMISSION
from vbauth.services.errors import PermissionDenied

KINDS = frozenset({"agent", "accesskey", "direct"})
# Decoded characters a path segment may not hold: they would change what the upstream sees
# (";" starts path parameters, which Tomcat-style servers drop: "admin;x" would be "admin").
UNSAFE_IN_SEGMENT = frozenset("/\\?#;\x00")
_MAYBE_UNSAFE = frozenset("%\\?#;\x00")  # in a raw path: decoding could make it unsafe


class UnsafePath(ValueError):
    """A path whose meaning could change between the policy check and the upstream."""


def decoded_path(raw_path: str) -> str:
    """The decoded path to match policies against, if every reading of it is the same.

    ``/v1.0/aicalls/../calls`` would be checked as aicalls and served as calls once something
    normalised it; ``%2F``, ``%2e%2e`` or a NUL do the same in other spellings. So would an
    empty segment (``//admin``), a second round of encoding (``%2561``), an encoded character
    that needs none (``%61dmin``), or a segment with spaces around it (``admin%20``), for
    upstreams that collapse, decode twice or trim. Such paths are refused rather than
    normalised, so what is checked is exactly what is forwarded.
    """
    if not _MAYBE_UNSAFE & set(raw_path) and "/." not in raw_path and "//" not in raw_path:
        return raw_path  # the common case: nothing encoded, no dot or empty segment
    raw_segments = raw_path.split("/")
    if "" in raw_segments[1:-1]:
        raise UnsafePath(raw_path)  # an empty segment (one trailing slash is fine)
    segments = []
    for raw in raw_segments:
        if _NEEDLESS_ESCAPE.search(raw):
            raise UnsafePath(raw_path)
        segment = unquote(raw)
        if segment in (".", "..") or UNSAFE_IN_SEGMENT & set(segment) or segment != segment.strip():
            raise UnsafePath(raw_path)
        segments.append(segment)
    return "/".join(segments)


# "%25" (an encoded "%": a second round of encoding) or an encoded unreserved character
# (RFC 3986 §2.3: ALPHA, DIGIT, "-", ".", "_", "~"), which no canonical encoder produces.
_NEEDLESS_ESCAPE = re.compile(
    r"%(25|[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[Dd]|2[Ee]|5[Ff]|7[Ee])", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    prefix: str
    upstream: str
    permission: int
    identities: frozenset[str]
    direct_resource_types: frozenset[str]
    # Who the identity header is for (its ``aud``): an upstream accepts only its own, so a
    # header captured by one upstream cannot be replayed to another.
    audience: str = ""

    def covers(self, path: str) -> bool:
        """``/v1.0/calls`` covers ``/v1.0/calls``, ``/v1.0/calls/…`` and ``/v1.0/calls.json``
        (frameworks that read a format suffix serve the same resource), not ``/v1.0/callsx``.

        ``path`` comes lower-cased (``RouteTable.match``), as prefixes are stored: an upstream
        that routes without case must not reach ``/ADMIN`` past the policy for ``/admin``.
        """
        prefix = self.prefix
        return path == prefix or path.startswith((prefix + "/", prefix + "."))

    def authorize(self, identity: Identity) -> None:
        """Let ``identity`` through this route, or raise the 403 that says why not."""
        # A delegate is a superadmin acting as an admin: it passes where agents do.
        kind = "agent" if identity.kind == "delegate" else identity.kind
        if kind not in self.identities:
            if identity.kind == "direct":
                raise PermissionDenied(
                    "Direct tokens cannot use this endpoint.", reason="DIRECT_ACCESS_NOT_SUPPORTED"
                )
            raise PermissionDenied()
        if isinstance(identity, DirectIdentity):
            if not any(identity.may_reach(kind) for kind in self.direct_resource_types):
                raise PermissionDenied(
                    "This token cannot reach this resource type.",
                    reason="DIRECT_ACCESS_NOT_SUPPORTED",
                )
            return
        if not identity.is_superadmin and not identity.has_permission(self.permission):
            raise PermissionDenied()


class RouteTable:
    """Policies ordered longest prefix first, so the most specific route wins."""

    def __init__(self, policies: list[RoutePolicy]) -> None:
        self.policies = sorted(policies, key=lambda policy: len(policy.prefix), reverse=True)

    def match(self, path: str) -> RoutePolicy | None:
        lowered = path.lower()
        return next((policy for policy in self.policies if policy.covers(lowered)), None)

    def require_local_apps(self, names: Iterable[str]) -> None:
        """Refuse, at start, a route to an ``asgi://`` app this process does not serve."""
        known = set(names)
        for policy in self.policies:
            name = policy.upstream.removeprefix("asgi://")
            if policy.upstream.startswith("asgi://") and name not in known:
                raise ValueError(
                    f"route {policy.prefix}: no in-process app {name!r}"
                    f" (known: {', '.join(sorted(known))})"
                )

    @classmethod
    def load(cls, path: Path | None) -> RouteTable:
        """The named file, or the default that ships inside the package (cwd never matters)."""
        text = (
            path.read_text()
            if path
            else files("vbauth.gateway").joinpath("routes.toml").read_text()
        )
        return cls([_policy(entry) for entry in tomllib.loads(text).get("route", [])])


def _policy(entry: dict[str, Any]) -> RoutePolicy:
    prefix = str(entry["prefix"]).rstrip("/").lower()
    if not prefix.startswith("/v1.0/"):
        raise ValueError(f"route prefix {prefix!r} must start with /v1.0/")
    identities = frozenset(entry.get("identities", ["agent", "accesskey"]))
    if not identities <= KINDS:
        raise ValueError(f"route {prefix}: identities must be among {sorted(KINDS)}")
    permission = int(entry.get("permission", MAX_PERMISSION))
    if not 0 < permission <= MAX_PERMISSION:
        raise ValueError(f"route {prefix}: permission must be 1..{MAX_PERMISSION}")
    direct_types = frozenset(entry.get("direct_resource_types", []))
    if "direct" in identities and not direct_types:
        raise ValueError(f"route {prefix}: direct tokens need direct_resource_types")
    upstream = str(entry["upstream"]).rstrip("/")
    if not upstream.startswith(("http://", "https://", "asgi://")):
        raise ValueError(f"route {prefix}: upstream must be an http(s):// or asgi:// URL")
    audience = str(entry.get("audience", upstream))
    if not 0 < len(audience) <= 200:
        raise ValueError(f"route {prefix}: audience must be 1 to 200 characters")
    return RoutePolicy(
        prefix=prefix,
        upstream=upstream,
        permission=permission,
        identities=identities,
        direct_resource_types=direct_types,
        audience=audience,
    )
