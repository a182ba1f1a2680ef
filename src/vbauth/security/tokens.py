"""JWTs per RFC 8725: HS256 only, a key ring addressed by ``kid``, standard claims, typed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = (ALGORITHM,)  # never "none", never an algorithm the header picks
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "jti", "iss", "aud", "typ", "sub")


class InvalidToken(Exception):
    """Anything wrong with a token. The reason is for logs; callers all answer the same 401."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes
    # The JOSE header is the same for every token of this key: encoded once.
    encoded_header: bytes = b""
    mac: Any = None  # an HMAC-SHA256 keyed with ``secret``, copied for each signature

    @classmethod
    def from_secret(cls, secret: str) -> SigningKey:
        raw = secret.encode()
        # The kid names the key without revealing it: a short digest of a 256-bit secret.
        kid = "hs-" + hashlib.sha256(b"vbauth-kid\x00" + raw).hexdigest()[:16]
        header = _json({"alg": ALGORITHM, "kid": kid, "typ": "JWT"})
        return cls(kid, raw, _b64(header), hmac.new(raw, digestmod=hashlib.sha256))

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact HS256 JWS of ``claims`` (RFC 7515), as PyJWT would make it, but cheaper.

        Signing sits on the gateway's path (one identity header per request), so the header
        and the keyed HMAC state are made once; verifying stays with PyJWT (``KeyRing.read``).
        """
        return self.sign_payload(_json(claims))

    def sign_payload(self, payload: bytes) -> str:
        """The compact JWS of a claims object already encoded as JSON."""
        signing_input = self.encoded_header + b"." + _b64(payload)
        mac = self.mac.copy()
        mac.update(signing_input)
        return (signing_input + b"." + _b64(mac.digest())).decode()


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


class KeyRing:
    """Signs with the current key; verifies with the current key and any previous ones."""

    def __init__(self, current: str, previous: list[str], *, issuer: str, audience: str) -> None:
        self.current = SigningKey.from_secret(current)
        self._keys = {key.kid: key for key in map(SigningKey.from_secret, [current, *previous])}
        self.issuer = issuer
        self.audience = audience

    def issue(
        self, *, typ: str, subject: str, ttl: int, at: datetime, extra: dict[str, Any] | None = None
    ) -> IssuedToken:
        issued_at = int(at.timestamp())
        expires_at = at + timedelta(seconds=ttl)
        jti = str(uuid.uuid4())
        claims = {
            **(extra or {}),
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "typ": typ,
            "jti": jti,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ttl,
        }
        return IssuedToken(token=self.current.sign(claims), jti=jti, expires_at=expires_at)

    def read(self, token: str, *, at: datetime, audience: str | None = None) -> dict[str, Any]:
        """The verified claims of ``token`` at time ``at``, or ``InvalidToken``.

        ``audience`` replaces the ring's own for this token (identity headers name an upstream).
        """
        audience = self.audience if audience is None else audience
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("empty or oversized token")
        _require_canonical(token)
        key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.secret,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=audience,
                issuer=self.issuer,
                # Time is checked below against vbauth's clock, so tests can move it.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        _check_times(claims, int(at.timestamp()))
        if not isinstance(claims["typ"], str) or not isinstance(claims["sub"], str):
            raise InvalidToken("typ and sub must be strings")
        if claims["aud"] != audience:
            raise InvalidToken("aud must be exactly our audience")  # vbauth never issues a list
        return claims

    def _key_for(self, token: str) -> SigningKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown kid")
        return key


_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _require_canonical(token: str) -> None:
    """One spelling per token: base64url without padding, and no stray bits in the signature.

    A decoder ignores ``=`` and the unused low bits of the last character, so without this check
    one signed token could be written several ways, and cached, counted or refused as different
    tokens (RFC 7515 §2 requires the unpadded form).
    """
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("not a compact JWS in base64url")
    signature = token.rsplit(".", 1)[1]
    try:
        decoded = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError as error:
        raise InvalidToken("signature is not base64url") from error
    if _b64(decoded).decode() != signature:
        raise InvalidToken("signature is not in canonical base64url")


def _check_times(claims: dict[str, Any], now: int) -> None:
    for name in ("exp", "nbf", "iat"):
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidToken(f"{name} must be an integer")
    if now >= claims["exp"]:
        raise InvalidToken("expired")
    if now < claims["nbf"]:
        raise InvalidToken("not yet valid")
    if now < claims["iat"]:
        raise InvalidToken("issued in the future")
