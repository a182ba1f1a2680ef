"""One-time tokens for email verification and password reset: 64 lowercase hex, stored hashed."""

from __future__ import annotations

import hashlib
import re
import secrets

FORMAT = re.compile(r"[0-9a-f]{64}")


def new_one_time_token() -> str:
    return secrets.token_hex(32)


def hash_one_time_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return FORMAT.fullmatch(token) is not None
