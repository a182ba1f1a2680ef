"""Accesskeys: ``vb_`` + 26 random base62 characters + a 6-character base62 CRC32 of them.

The checksum lets vbauth reject a mistyped key without touching the database, and gives secret
scanners a way to recognise a leaked key with almost no false positives (the scheme GitHub
uses for its tokens). Only the SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PREFIX = "vb_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 26  # 26 * log2(62), about 155 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so any CRC32 fits
TOKEN_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH  # 35, as VoIPBIN's
DISPLAY_PREFIX_LENGTH = 11  # "vb_" + 8: what lists, logs and the API may show
# ASCII letters and digits only (str.isalnum would take any script's): checked on every request.
_SHAPE = re.compile(f"{PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_accesskey() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + body + checksum(body)


def looks_valid(token: str) -> bool:
    """Well-formed with a matching checksum: worth a lookup. Costs no I/O."""
    if len(token) != TOKEN_LENGTH or not _SHAPE.fullmatch(token):
        return False
    body, check = token[len(PREFIX) : -CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    # Bytes: compare_digest refuses non-ASCII str, and a key is whatever a client typed.
    return secrets.compare_digest(checksum(body).encode(), check.encode())


def hash_accesskey(token: str) -> str:
    """What is stored and looked up: lowercase hex SHA-256 of the whole key."""
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]


DIRECT_PREFIX = "direct."


def new_direct_hash() -> str:
    """``direct.`` + 32 lowercase hex: 128 random bits (VoIPBIN's have 48)."""
    return DIRECT_PREFIX + secrets.token_hex(16)
