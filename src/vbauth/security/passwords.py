"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used old parameters


class HashingBusy(Exception):
    """Every hashing slot and every place in the queue is taken: come back shortly."""


class Passwords:
    """Hash and verify passwords with one set of argon2id parameters, a bounded number at once.

    At most ``concurrency`` hashes run (one per core is all the CPU there is; more would only
    multiply the 19 MiB each holds), and at most ``queue`` more wait for a turn. Past that,
    ``HashingBusy``: a login storm gets 503s instead of unbounded memory and a starved loop.
    A slot is given back when its hash finishes in the thread, not when the waiting request
    goes away, so clients that give up cannot stack work beyond the bound.
    """

    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        concurrency: int | None = None,
        queue: int = 64,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # A real hash of a random password: verifying against it costs what a real verify costs,
        # so "no such user" and "wrong password" cannot be told apart by timing.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        workers = concurrency or os.cpu_count() or 1
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._limit = workers + queue
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Hashes running or waiting for a thread now."""
        return self._in_flight

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> VerifyResult:
        """Check ``password``; with no stored hash, burn the same time and fail."""
        return await self._run(self._verify_sync, stored_hash, password)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        with self._lock:
            if self._in_flight >= self._limit:
                raise HashingBusy()
            self._in_flight += 1
        future = self._threads.submit(work, *args)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

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
