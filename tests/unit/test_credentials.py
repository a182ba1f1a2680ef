"""Where credentials are looked for, and in which order (reference §4)."""

from __future__ import annotations

import pytest

from vbauth.authn import bearer_token, find_credential


def find(
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    return find_credential(headers or {}, cookies or {}, query or {})


def test_nothing_found() -> None:
    assert find() is None
    assert find(query={"api_key": "x", "access_key": "y"}, headers={"x-api-key": "z"}) is None


def test_token_sources_in_order() -> None:
    everything = {
        "cookies": {"token": "c", "accesskey": "ak-c"},
        "query": {"token": "q", "accesskey": "ak-q"},
        "headers": {"authorization": "Bearer h"},
    }
    assert (find(**everything).value, find(**everything).source) == ("c", "cookie")
    del everything["cookies"]["token"]
    assert find(**everything).value == "q"
    del everything["query"]["token"]
    assert find(**everything).value == "h"
    everything["headers"] = {}
    assert (find(**everything).kind, find(**everything).value) == ("accesskey", "ak-c")
    del everything["cookies"]["accesskey"]
    assert find(**everything).value == "ak-q"


def test_empty_values_do_not_count() -> None:
    credential = find(cookies={"token": ""}, query={"token": "", "accesskey": "k"})
    assert credential is not None
    assert (credential.kind, credential.value) == ("accesskey", "k")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),  # RFC 7235: the scheme is case-insensitive
        ("Bearer  abc ", "abc"),
        ("Bearer", ""),
        ("Bearer ", ""),
        ("Token abc", ""),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", ""),
        ("xBearer abc", ""),
        ("abc", ""),
    ],
)
def test_bearer_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


def test_a_credential_never_prints_whole() -> None:
    credential = find(query={"token": "eyJhbGciOiJIUzI1NiJ9.secret-part"})
    assert "secret-part" not in repr(credential)
