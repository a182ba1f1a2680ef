"""Private signing keys at rest: AES-256-GCM under a key derived from the installation secret.

The database holds only sealed private keys, so a copy of it (a backup, a replica, a SQL
injection elsewhere) cannot sign tokens without the secret from the environment or data dir.
Each sealed value is bound to its key's ``kid``: moved to another row, it no longer opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class UnsealError(Exception):
    """A sealed key does not open with this secret: the secret changed, or the row was edited."""


def sealing_key(installation_secret: str) -> bytes:
    """The AES key, derived one way from the installation secret (never the secret itself)."""
    return hmac.new(
        installation_secret.encode(), b"vbauth signing-key sealing v1", hashlib.sha256
    ).digest()


def seal(key: bytes, kid: str, plaintext: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, kid.encode())
    return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(key: bytes, kid: str, sealed: str) -> bytes:
    version, _, body = sealed.partition(":")
    if version != VERSION:
        raise UnsealError(f"unknown sealing version {version!r}")
    try:
        raw = base64.b64decode(body, validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode())
    except (InvalidTag, ValueError) as error:
        raise UnsealError("the sealed key does not open with this secret") from error
