"""The public keys that verify vbauth's tokens, for upstreams and anyone holding a token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vbauth.api.deps import RuntimeDep

router = APIRouter(tags=["auth"])

JWKS_PATH = "/.well-known/jwks.json"

# Short, so a retired key stops being trusted by caching verifiers soon after it is removed;
# a rotated key is published at least twice the refresh interval before it signs.
MAX_AGE_SECONDS = 60


@router.get(
    JWKS_PATH,
    summary="The JSON Web Key Set of the keys that sign tokens",
    response_model=None,
)
async def jwks(runtime: RuntimeDep) -> JSONResponse:
    """Every Ed25519 key still in use (RFC 7517), by ``kid``. Empty in HS256 mode, whose shared
    secret is never published."""
    body: dict[str, Any] = runtime.keys.jwks()
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"})
