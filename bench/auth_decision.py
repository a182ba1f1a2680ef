"""How much an authentication decision costs, against a bare PyJWT verify measured in the same run.

    .venv/bin/python bench/auth_decision.py

Prints microseconds per decision and the ratio to the baseline (one ``jwt.decode`` of the same
token with the same key). The design's budget: a cached credential costs well under 20 µs.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt

from vbauth import migrate
from vbauth.authn import Credential
from vbauth.runtime import Runtime
from vbauth.services import customers, logins
from vbauth.settings import Settings

ROUNDS = 20_000
EMAIL, PASSWORD = "bench@example.com", "bench password"


async def measure(label: str, step: Callable[[], Awaitable[object]], rounds: int) -> float:
    for _ in range(min(rounds, 200)):
        await step()
    started = time.perf_counter()
    for _ in range(rounds):
        await step()
    per_call = (time.perf_counter() - started) / rounds * 1e6
    print(f"  {label:<46} {per_call:9.2f} µs")
    return per_call


async def decisions(settings: Settings) -> dict[str, float]:
    """Microseconds per decision: PyJWT alone, vbauth cached, vbauth with the identity re-read."""
    runtime = Runtime.build(settings)
    async with runtime.transaction() as session:
        await customers.create(
            session, by=None, passwords=runtime.passwords, email=EMAIL, admin_password=PASSWORD
        )
    result = await logins.login(
        runtime.reads,
        runtime.transaction,
        passwords=runtime.passwords,
        keys=runtime.keys,
        username=EMAIL,
        password=PASSWORD,
        ttl=3600,
    )
    token = result.token.token
    credential = Credential("token", token, "header")
    secret = settings.jwt_secret.get_secret_value()  # type: ignore[union-attr]
    authenticator = runtime.authenticator

    async def baseline() -> object:
        return jwt.decode(token, secret, algorithms=["HS256"], audience="voipbin-api")

    async def cached() -> object:
        return await authenticator.authenticate(credential)

    async def uncached_identity() -> object:
        authenticator.identity_cache.invalidate()
        return await authenticator.authenticate(credential)

    print(f"authentication decision, {ROUNDS} rounds each")
    figures = {
        "baseline": await measure("baseline: PyJWT decode of the same token", baseline, ROUNDS),
        "cached": await measure("vbauth, credential cached (the hot path)", cached, ROUNDS),
        "uncached": await measure(
            "vbauth, identity re-read from the database", uncached_identity, ROUNDS // 10
        ),
    }
    await runtime.close()
    return figures


def settings_in(directory: Path) -> Settings:
    """A migrated SQLite database in ``directory``, tiny argon2 (logins are not measured here)."""
    settings = Settings(
        data_dir=directory,
        jwt_algorithm="HS256",  # the baseline is an HS256 decode: compare like with like
        jwt_secret=secrets.token_urlsafe(48),
        argon2_memory_kib=64,
        argon2_time_cost=1,
    )
    migrate.upgrade(settings.effective_database_url)
    return settings


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        figures = asyncio.run(decisions(settings_in(Path(scratch))))
    print(f"ratio cached / baseline:   {figures['cached'] / figures['baseline']:6.2f}")
    print(f"ratio uncached / baseline: {figures['uncached'] / figures['baseline']:6.2f}")
