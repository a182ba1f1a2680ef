"""JWTs per RFC 8725: a key ring addressed by ``kid`` (Ed25519 or HS256), standard claims,
typed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

HS256 = "HS256"
EDDSA = "EdDSA"
# There is no list of algorithms a token may pick: each key verifies with its own algorithm
# only, and the header's "alg" must name it. So no "none", and no HMAC keyed with a public key.
# The header fields vbauth writes. Anything else ("jku", "x5u", "jwk", "x5c", "crit"...) asks a
# verifier to fetch or trust a key the token names itself: such a token is refused outright.
ALLOWED_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "jti", "iss", "aud", "typ", "sub")


class InvalidToken(Exception):
    """Anything wrong with a token. The reason is for logs; callers all answer the same 401."""


class SigningKey:
    """One key of a ring: its ``kid``, its algorithm, and how it signs and verifies.

    The JOSE header is the same for every token of a key, so it is encoded once; signing sits on
    the gateway's path (one identity header per request). Verifying stays with PyJWT.
    """

    algorithm: str
    kid: str
    encoded_header: bytes

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.encoded_header = _b64(_json({"alg": self.algorithm, "kid": kid, "typ": "JWT"}))

    @property
    def can_sign(self) -> bool:
        return True

    @property
    def verifying_key(self) -> Any:
        """What PyJWT verifies this key's tokens with."""
        raise NotImplementedError

    def signature(self, signing_input: bytes) -> bytes:
        raise NotImplementedError

    def public_jwk(self) -> dict[str, str] | None:
        """The key as published in the JWKS; None for a shared secret, which is never published."""
        return None

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (RFC 7515)."""
        return self.sign_payload(_json(claims))

    def sign_payload(self, payload: bytes) -> str:
        """The compact JWS of a claims object already encoded as JSON."""
        signing_input = self.encoded_header + b"." + _b64(payload)
        return (signing_input + b"." + _b64(self.signature(signing_input))).decode()


class HmacKey(SigningKey):
    """HS256 with a secret from the environment (``VBAUTH_JWT_ALGORITHM=HS256``)."""

    algorithm = HS256

    def __init__(self, secret: bytes) -> None:
        # The kid names the key without revealing it: a short digest of a 256-bit secret.
        super().__init__("hs-" + hashlib.sha256(b"vbauth-kid\x00" + secret).hexdigest()[:16])
        self._secret = secret
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)  # copied for each signature

    @classmethod
    def from_secret(cls, secret: str) -> HmacKey:
        return cls(secret.encode())

    @property
    def verifying_key(self) -> bytes:
        return self._secret

    def signature(self, signing_input: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(signing_input)
        return mac.digest()


class Ed25519Key(SigningKey):
    """EdDSA over Ed25519 (RFC 8037): the private half signs, the public half is published."""

    algorithm = EDDSA

    def __init__(self, public: Ed25519PublicKey, private: Ed25519PrivateKey | None = None) -> None:
        self._public = public
        self._private = private
        self.raw_public = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        super().__init__(ed25519_thumbprint(self.raw_public))

    @classmethod
    def generate(cls) -> Ed25519Key:
        private = Ed25519PrivateKey.generate()
        return cls(private.public_key(), private)

    @classmethod
    def from_raw(cls, public: bytes, private: bytes | None = None) -> Ed25519Key:
        return cls(
            Ed25519PublicKey.from_public_bytes(public),
            Ed25519PrivateKey.from_private_bytes(private) if private is not None else None,
        )

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> Ed25519Key:
        """A verify-only key from a JWKS entry (how an upstream holds vbauth's keys)."""
        if (
            jwk.get("kty") != "OKP"
            or jwk.get("crv") != "Ed25519"
            or not isinstance(jwk.get("x"), str)
        ):
            raise ValueError("not an Ed25519 public JWK")
        key = cls.from_raw(_unb64(jwk["x"]))
        if jwk.get("kid") not in (None, key.kid):
            raise ValueError("the JWK's kid is not its thumbprint")
        return key

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    @property
    def raw_private(self) -> bytes:
        if self._private is None:
            raise ValueError("a verify-only key")
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def halves_match(self) -> bool:
        """Whether the private half (if any) is the one of this public half."""
        if self._private is None:
            return True
        derived = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return derived == self.raw_public

    @property
    def verifying_key(self) -> Ed25519PublicKey:
        return self._public

    def signature(self, signing_input: bytes) -> bytes:
        if self._private is None:
            raise ValueError("a verify-only key cannot sign")
        return self._private.sign(signing_input)

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64(self.raw_public).decode(),
            "kid": self.kid,
            "alg": EDDSA,
            "use": "sig",
        }


def ed25519_thumbprint(raw_public: bytes) -> str:
    """The key's RFC 7638 JWK thumbprint: a kid anyone can recompute from the JWKS."""
    canonical = _json({"crv": "Ed25519", "kty": "OKP", "x": _b64(raw_public).decode()})
    return _b64(hashlib.sha256(canonical).digest()).decode()


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(raw: bytes) -> str:
    """Unpadded base64url text, as JOSE writes keys (and the signing-key table keeps them)."""
    return _b64(raw).decode()


unb64url = _unb64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


class KeyRing:
    """Signs with the current key; verifies with any key it holds, each by its own algorithm.

    A ring may change while serving (a rotation seen in the database): ``replace`` swaps the
    keys in one assignment, so a reader sees either the old set or the new one.
    """

    def __init__(
        self,
        keys: Iterable[SigningKey] = (),
        current: SigningKey | None = None,
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str, SigningKey] = {}
        self._current: SigningKey | None = None
        self.replace(keys, current)

    @classmethod
    def from_secrets(
        cls, current: str, previous: Iterable[str] = (), *, issuer: str, audience: str
    ) -> KeyRing:
        """HS256 mode: sign with ``current``, still verify ``previous``."""
        signing = HmacKey.from_secret(current)
        others = [HmacKey.from_secret(secret) for secret in previous]
        return cls([signing, *others], signing, issuer=issuer, audience=audience)

    def replace(self, keys: Iterable[SigningKey], current: SigningKey | None) -> None:
        by_kid = {key.kid: key for key in keys}
        if current is not None:
            if not current.can_sign:
                raise ValueError("the current key must be able to sign")
            by_kid[current.kid] = current
        self._keys, self._current = by_kid, current

    @property
    def current(self) -> SigningKey:
        if self._current is None:
            raise RuntimeError("no signing key loaded yet (Runtime.start loads them)")
        return self._current

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def has(self, kid: str) -> bool:
        return kid in self._keys

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys, as ``/.well-known/jwks.json`` serves them (none for HS256)."""
        published = (key.public_jwk() for key in self._keys.values())
        return {"keys": [jwk for jwk in published if jwk is not None]}

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
                key.verifying_key,
                algorithms=[key.algorithm],
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
        if not header.keys() <= ALLOWED_HEADER_FIELDS:
            raise InvalidToken("header fields beyond alg, kid and typ")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown kid")
        if header.get("alg") != key.algorithm:
            raise InvalidToken("algorithm is not the key's own")
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
