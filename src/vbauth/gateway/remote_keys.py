"""An upstream's copy of vbauth's public keys, read from ``/.well-known/jwks.json``.

This is how a service behind vbauth verifies identity headers (and login tokens) without any
shared secret. ``vbauth demo-upstream`` uses it in EdDSA mode; ``docs/gateway.md`` shows the
same with PyJWT's ``PyJWKClient``.
"""

from __future__ import annotations

import logging
import time

import httpx
import jwt

from vbauth.security.tokens import Ed25519Key, KeyRing, SigningKey

log = logging.getLogger("vbauth.remote_keys")

# A token naming a kid we do not hold makes us fetch again, but not more often than this:
# otherwise every forged kid would cost vbauth a request.
MIN_REFETCH_SECONDS = 5.0


class RemoteKeys:
    def __init__(self, url: str, *, issuer: str) -> None:
        self.url = url
        self.ring = KeyRing(issuer=issuer, audience="")  # verify-only; audience given per read
        self._fetched_at = float("-inf")

    async def ring_for(self, token: str) -> KeyRing:
        """The ring, fetched again first when ``token`` names a kid it does not hold."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return self.ring  # the ring refuses it
        stale = time.monotonic() - self._fetched_at >= MIN_REFETCH_SECONDS
        if isinstance(kid, str) and not self.ring.has(kid) and stale:
            await self.fetch()
        return self.ring

    async def fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                entries = response.json()["keys"]
            keys: list[SigningKey] = [Ed25519Key.from_jwk(entry) for entry in entries]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("could not read the JWKS at %s: %s", self.url, error)
            return
        self.ring.replace(keys, None)
