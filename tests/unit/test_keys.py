"""Accesskey and one-time token formats."""

from __future__ import annotations

import hashlib
import re

import pytest

from vbauth.security.keys import (
    display_prefix,
    hash_accesskey,
    looks_valid,
    new_accesskey,
)
from vbauth.security.one_time import hash_one_time_token, new_one_time_token, well_formed


def test_a_new_key_is_vb_plus_32_base62_characters_with_a_valid_checksum() -> None:
    keys = {new_accesskey() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"vb_[0-9A-Za-z]{32}", key)
        assert looks_valid(key)
        assert display_prefix(key) == key[:11]


def test_any_single_typo_breaks_the_checksum() -> None:
    key = new_accesskey()
    for position in range(3, len(key)):
        replacement = "A" if key[position] != "A" else "B"
        typo = key[:position] + replacement + key[position + 1 :]
        assert not looks_valid(typo), position


@pytest.mark.parametrize(
    "token",
    ["", "vb_", "vb_short", "xx_" + "a" * 32, "vb_" + "a" * 33, "vb_" + "-" * 32, "eyJhbGciOi"],
)
def test_malformed_keys_are_not_worth_a_lookup(token: str) -> None:
    assert not looks_valid(token)


def test_the_stored_form_is_the_sha256_hex_of_the_whole_key() -> None:
    key = new_accesskey()
    assert hash_accesskey(key) == hashlib.sha256(key.encode()).hexdigest()


def test_one_time_tokens_are_64_lowercase_hex() -> None:
    token = new_one_time_token()
    assert well_formed(token)
    assert hash_one_time_token(token) != token
    for bad in ("A" * 64, "a" * 63, "g" * 64, "a" * 65, ""):
        assert not well_formed(bad)
