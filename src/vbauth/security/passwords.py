"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used old parameters


class Passwords:
    """Hash and verify passwords with one set of argon2id parameters."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # A real hash of a random password: verifying against it costs what a real verify costs,
        # so "no such user" and "wrong password" cannot be told apart by timing.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> VerifyResult:
        """Check ``password``; with no stored hash, burn the same time and fail."""
        return await anyio.to_thread.run_sync(self._verify_sync, stored_hash, password)

    def _verify_sync(self, stored_hash: str | None, password: str) -> VerifyResult:
        if not stored_hash:
            self._check(self._dummy_hash, password)
            return VerifyResult(ok=False)
        if not self._check(stored_hash, password):
            return VerifyResult(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return VerifyResult(ok=True, new_hash=self._hasher.hash(password))
        return VerifyResult(ok=True)

    def _check(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
    return None
