"""An upstream's copy of vbauth's public keys, read from ``/.well-known/jwks.json``.

This is how a service behind vbauth verifies identity headers (and login tokens) without any
shared secret. ``vbauth demo-upstream`` uses it in EdDSA mode; ``docs/gateway.md`` shows the
same with PyJWT's ``PyJWKClient``.

The copy is fetched again when it is older than the JWKS's ``Cache-Control: max-age`` (a
retired key must stop verifying here too, even if every token names a kid the copy holds), and
when a token names a kid the copy lacks (a new key), but not more often than every few seconds:
otherwise each forged kid would cost vbauth a request.
"""

from __future__ import annotations

import logging
import re
import time

import httpx
import jwt

from vbauth.security.tokens import Ed25519Key, KeyRing, SigningKey

log = logging.getLogger("vbauth.remote_keys")

MIN_REFETCH_SECONDS = 5.0
DEFAULT_MAX_AGE = 60.0  # when the answer does not say
MAX_AGE = re.compile(r"max-age=(\d+)")


class RemoteKeys:
    def __init__(self, url: str, *, issuer: str, max_age: float | None = None) -> None:
        self.url = url
        self.ring = KeyRing(issuer=issuer, audience="")  # verify-only; audience given per read
        self._fetched_at = float("-inf")
        self._fixed_max_age = max_age  # tests shorten it; else the JWKS's own
        self._max_age = max_age if max_age is not None else DEFAULT_MAX_AGE

    async def ring_for(self, token: str) -> KeyRing:
        """The ring, fetched again first when it is stale or ``token`` names a new kid."""
        age = time.monotonic() - self._fetched_at
        if age >= self._max_age:
            await self.fetch()
            return self.ring
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return self.ring  # the ring refuses it
        if isinstance(kid, str) and not self.ring.has(kid) and age >= MIN_REFETCH_SECONDS:
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
        if self._fixed_max_age is None:
            said = MAX_AGE.search(response.headers.get("cache-control", ""))
            self._max_age = float(said.group(1)) if said else DEFAULT_MAX_AGE
        self.ring.replace(keys, None)
