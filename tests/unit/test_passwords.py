"""argon2id hashing: verify, the dummy path for unknown users, rehash on parameter change."""

from __future__ import annotations

import asyncio

import pytest

from vbauth.security.passwords import HashingBusy, Passwords, password_problem

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


SLOW = {"memory_kib": 8192, "time_cost": 40, "parallelism": 1}  # a few hundred ms a hash


async def test_hashing_runs_a_bounded_number_at_once_and_refuses_past_the_queue() -> None:
    passwords = Passwords(**SLOW, concurrency=1, queue=1)
    running = asyncio.ensure_future(passwords.hash("first password"))
    waiting = asyncio.ensure_future(passwords.hash("second password"))
    await asyncio.sleep(0)  # both admitted: one hashing, one queued
    with pytest.raises(HashingBusy):
        await passwords.verify(None, "a third")
    assert (await running).startswith("$argon2id$")
    await waiting
    assert not (await passwords.verify(None, "a third")).ok  # slots came back


async def test_a_caller_that_gives_up_keeps_its_slot_until_its_hash_ends() -> None:
    passwords = Passwords(**SLOW, concurrency=1, queue=0)
    abandoned = asyncio.ensure_future(passwords.hash("first password"))
    await asyncio.sleep(0)
    abandoned.cancel()
    with pytest.raises(HashingBusy):  # the thread still works on it: no new work piles up
        await passwords.hash("second password")
    for _ in range(200):  # the slot comes back when the thread finishes
        try:
            assert not (await passwords.verify(None, "eventually")).ok
            return
        except HashingBusy:
            await asyncio.sleep(0.05)
    pytest.fail("the slot never came back")
