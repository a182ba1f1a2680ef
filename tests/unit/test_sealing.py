"""Private signing keys at rest open only with the installation secret, and only in their row."""

from __future__ import annotations

import secrets

import pytest

from vbauth.security.sealing import UnsealError, seal, sealing_key, unseal

SECRET = secrets.token_urlsafe(48)
PRIVATE = secrets.token_bytes(32)


def test_a_sealed_key_opens_with_the_same_secret_and_kid() -> None:
    sealed = seal(sealing_key(SECRET), "kid-1", PRIVATE)
    assert PRIVATE.hex() not in sealed and PRIVATE not in sealed.encode()
    assert unseal(sealing_key(SECRET), "kid-1", sealed) == PRIVATE
    assert seal(sealing_key(SECRET), "kid-1", PRIVATE) != sealed  # a fresh nonce each time


def test_the_sealing_key_is_not_the_secret_itself() -> None:
    assert SECRET.encode() not in sealing_key(SECRET)
    assert len(sealing_key(SECRET)) == 32


@pytest.mark.parametrize(
    "change",
    ["another secret", "another kid", "a flipped byte", "another version", "not base64"],
)
def test_a_sealed_key_does_not_open_otherwise(change: str) -> None:
    key, kid = sealing_key(SECRET), "kid-1"
    sealed = seal(key, kid, PRIVATE)
    if change == "another secret":
        key = sealing_key(secrets.token_urlsafe(48))
    elif change == "another kid":
        kid = "kid-2"
    elif change == "a flipped byte":
        body = sealed.split(":", 1)[1]
        sealed = "v1:" + body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    elif change == "another version":
        sealed = "v0:" + sealed.split(":", 1)[1]
    else:
        sealed = "v1:%%%"
    with pytest.raises(UnsealError):
        unseal(key, kid, sealed)
