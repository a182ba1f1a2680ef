"""The identity a forwarded request carries: a short-lived JWT in ``X-VB-Identity``.

Upstreams verify it with the *upstream* secret, never the one that signs login tokens: an
upstream that leaks its secret can forge identity headers to other upstreams, but cannot mint
credentials that vbauth would accept. Plain ``X-VB-*`` headers repeat the claims for
convenience; an upstream that can be reached other than through vbauth must trust only the JWT.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from vbauth import clock
from vbauth.identity import AccesskeyIdentity, AgentIdentity, DirectIdentity, Identity
from vbauth.security.tokens import InvalidToken, KeyRing

HEADER = "x-vb-identity"
IDENTITY_TOKEN_TYPE = "identity"
UPSTREAM_AUDIENCE = "vbauth-upstream"
TTL_SECONDS = 60


def derive_upstream_secret(jwt_secret: str) -> str:
    """A secret for upstreams, derived one way from the signing secret (HMAC-SHA256)."""
    return hmac.new(jwt_secret.encode(), b"vbauth upstream identity v1", hashlib.sha256).hexdigest()


def upstream_keys(secret: str, issuer: str) -> KeyRing:
    return KeyRing(secret, [], issuer=issuer, audience=UPSTREAM_AUDIENCE)


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
    return claims


def subject_of(identity: Identity) -> str:
    if isinstance(identity, AgentIdentity):
        return str(identity.agent_id)
    if isinstance(identity, AccesskeyIdentity):
        return str(identity.accesskey_id)
    return str(identity.direct_id)


def identity_headers(keys: KeyRing, identity: Identity, request_id: str) -> dict[str, str]:
    """The signed header and its plain companions."""
    claims = claims_of(identity)
    token = keys.issue(
        typ=IDENTITY_TOKEN_TYPE,
        subject=subject_of(identity),
        ttl=TTL_SECONDS,
        at=clock.now(),
        extra={**claims, "request_id": request_id},
    ).token
    plain = {
        f"x-vb-{name.replace('_', '-')}": ",".join(value) if isinstance(value, list) else str(value)
        for name, value in claims.items()
    }
    return {HEADER: token, **plain}


def read_identity(keys: KeyRing, token: str) -> dict[str, Any]:
    """For upstreams: the verified claims of an ``X-VB-Identity`` header, or ``InvalidToken``."""
    claims = keys.read(token, at=clock.wall_clock())
    if claims["typ"] != IDENTITY_TOKEN_TYPE:
        raise InvalidToken("not an identity token")
    return claims
