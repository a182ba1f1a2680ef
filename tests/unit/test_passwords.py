"""argon2id hashing: verify, the dummy path for unknown users, rehash on parameter change."""

from __future__ import annotations

import pytest

from vbauth.security.passwords import Passwords, password_problem

FAST = {"memory_kib": 64, "time_cost": 1, "parallelism": 1}

pytestmark = pytest.mark.anyio


async def test_a_hash_is_argon2id_and_verifies() -> None:
    passwords = Passwords(**FAST)
    stored = await passwords.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert (await passwords.verify(stored, "correct horse")).ok
    assert not (await passwords.verify(stored, "wrong horse")).ok


async def test_no_stored_hash_fails_after_doing_the_same_work() -> None:
    result = await Passwords(**FAST).verify(None, "anything")
    assert not result.ok


async def test_a_corrupt_hash_fails_instead_of_raising() -> None:
    assert not (await Passwords(**FAST).verify("$argon2id$garbage", "x")).ok
    assert not (await Passwords(**FAST).verify("plaintext", "plaintext")).ok


async def test_a_hash_with_old_parameters_is_rehashed_on_success() -> None:
    old = await Passwords(**FAST).hash("correct horse")
    stronger = Passwords(memory_kib=128, time_cost=2, parallelism=1)
    result = await stronger.verify(old, "correct horse")
    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$v=19$m=128,t=2,p=1$")
    assert (await stronger.verify(result.new_hash, "correct horse")).new_hash is None


@pytest.mark.parametrize(
    ("password", "acceptable"),
    [("1234567", False), ("12345678", True), ("x" * 1024, True), ("x" * 1025, False)],
)
def test_password_length_rule(password: str, acceptable: bool) -> None:
    assert (password_problem(password) is None) is acceptable
