"""The identity a forwarded request carries: a short-lived JWT in ``X-VB-Identity``.

Upstreams verify it with the *upstream* secret, never the one that signs login tokens: an
upstream that leaks its secret can forge identity headers to other upstreams, but cannot mint
credentials that vbauth would accept. Plain ``X-VB-*`` headers repeat the claims for
convenience; an upstream that can be reached other than through vbauth must trust only the JWT.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from vbauth import clock
from vbauth.identity import (
    AccesskeyIdentity,
    AgentIdentity,
    DelegateIdentity,
    DirectIdentity,
    Identity,
)
from vbauth.permissions import CUSTOMER_ADMIN_BIT
from vbauth.security.tokens import InvalidToken, KeyRing

HEADER = "x-vb-identity"
IDENTITY_TOKEN_TYPE = "identity"
UPSTREAM_AUDIENCE = "vbauth-upstream"
TTL_SECONDS = 60


def derive_upstream_secret(jwt_secret: str) -> str:
    """A secret for upstreams, derived one way from the signing secret (HMAC-SHA256)."""
    return hmac.new(jwt_secret.encode(), b"vbauth upstream identity v1", hashlib.sha256).hexdigest()


def derive_events_secret(jwt_secret: str) -> str:
    """The secret upstreams publish events with: another one-way derivation, so a service that
    only verifies identities cannot publish events for any customer."""
    return hmac.new(jwt_secret.encode(), b"vbauth upstream events v1", hashlib.sha256).hexdigest()


def upstream_keys(secret: str, issuer: str) -> KeyRing:
    return KeyRing.from_secrets(secret, issuer=issuer, audience=UPSTREAM_AUDIENCE)


def claims_of(identity: Identity) -> dict[str, Any]:
    """What an upstream needs to scope a request, and nothing personal."""
    claims: dict[str, Any] = {"kind": identity.kind, "customer_id": str(identity.customer_id)}
    if isinstance(identity, AgentIdentity):
        claims |= {"agent_id": str(identity.agent_id), "permission": identity.permission}
    elif isinstance(identity, AccesskeyIdentity):
        claims |= {"accesskey_id": str(identity.accesskey_id)}
    elif isinstance(identity, DirectIdentity):
        claims |= {
            "resource_type": identity.resource_type,
            "resource_id": str(identity.resource_id),
            "allowed_resource_types": list(identity.allowed_resource_types),
        }
    elif isinstance(identity, DelegateIdentity):
        # An admin of this customer, and who is really acting: the superadmin behind it.
        claims |= {"permission": CUSTOMER_ADMIN_BIT, "delegated_by": str(identity.delegated_by)}
    return claims


def subject_of(identity: Identity) -> str:
    if isinstance(identity, AgentIdentity):
        return str(identity.agent_id)
    if isinstance(identity, AccesskeyIdentity):
        return str(identity.accesskey_id)
    if isinstance(identity, DelegateIdentity):
        return str(identity.delegation_id)
    return str(identity.direct_id)


def identity_headers(
    keys: KeyRing, identity: Identity, request_id: str, *, audience: str, method: str, path: str
) -> dict[str, str]:
    """The signed header and its plain companions (one-off; ``IdentitySigner`` for the hot path)."""
    return IdentitySigner(keys).headers(
        identity, request_id, audience=audience, method=method, path=path
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    claims_prefix: bytes  # the JSON of every claim that does not change per request, "{...,"
    plain: dict[str, str]
    raw_plain: list[tuple[bytes, bytes]]


class IdentitySigner:
    """Makes ``X-VB-Identity`` for each forwarded request, cheaply.

    Every request gets its own token, bound to it: the upstream it is for (``aud``), its method
    and path, a fresh ``jti``, its times and request id. The claims that depend only on the
    identity and the upstream are encoded once and kept while the identity is: identities are
    themselves cached, so the same object comes back.
    """

    MAX_PREPARED = 10_000

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._prepared: dict[tuple[Identity, str], _Prepared] = {}

    def headers(
        self, identity: Identity, request_id: str, *, audience: str, method: str, path: str
    ) -> dict[str, str]:
        prepared = self._prepared.get((identity, audience)) or self._prepare(identity, audience)
        return {HEADER: self._token(prepared, request_id, method, path), **prepared.plain}

    def raw_headers(
        self, identity: Identity, request_id: str, *, audience: str, method: str, path: str
    ) -> list[tuple[bytes, bytes]]:
        """The same headers, encoded for an ASGI response."""
        prepared = self._prepared.get((identity, audience)) or self._prepare(identity, audience)
        token = self._token(prepared, request_id, method, path).encode()
        return [(HEADER.encode(), token), *prepared.raw_plain]

    def _token(self, prepared: _Prepared, request_id: str, method: str, path: str) -> str:
        now = int(clock.wall_clock().timestamp())
        per_request = (
            f'"jti":"{os.urandom(16).hex()}","iat":{now},"nbf":{now},'
            f'"exp":{now + TTL_SECONDS},"method":{json.dumps(method)},'
            f'"path":{json.dumps(path)},"request_id":{json.dumps(request_id)}}}'
        )
        return self._keys.current.sign_payload(prepared.claims_prefix + per_request.encode())

    def _prepare(self, identity: Identity, audience: str) -> _Prepared:
        claims = claims_of(identity)
        fixed = {
            **claims,
            "iss": self._keys.issuer,
            "aud": audience,
            "sub": subject_of(identity),
            "typ": IDENTITY_TOKEN_TYPE,
        }
        prefix = json.dumps(fixed, separators=(",", ":"))[:-1] + ","
        plain = {
            f"x-vb-{name.replace('_', '-')}": ",".join(value)
            if isinstance(value, list)
            else str(value)
            for name, value in claims.items()
        }
        if len(self._prepared) >= self.MAX_PREPARED:
            self._prepared.clear()
        raw_plain = [(name.encode(), value.encode()) for name, value in plain.items()]
        prepared = _Prepared(prefix.encode(), plain, raw_plain)
        self._prepared[(identity, audience)] = prepared
        return prepared


def read_identity(
    keys: KeyRing, token: str, *, audience: str, method: str, path: str
) -> dict[str, Any]:
    """For upstreams: the verified claims of an ``X-VB-Identity`` header, or ``InvalidToken``.

    The header must have been made for this upstream (``audience``) and for this very request:
    its method and its path as received (raw, query left out).
    """
    claims = keys.read(token, at=clock.wall_clock(), audience=audience)
    if claims["typ"] != IDENTITY_TOKEN_TYPE:
        raise InvalidToken("not an identity token")
    if claims.get("method") != method or claims.get("path") != path:
        raise InvalidToken("made for another request")
    return claims
