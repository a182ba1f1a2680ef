"""The console's CSRF tokens, sealed notices and cookie names (admin/protection.py)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from vbauth import clock
from vbauth.admin.protection import ConsoleProtection, console_key

KEY = console_key(secrets.token_urlsafe(32))


def test_a_csrf_token_is_bound_to_its_session_and_key() -> None:
    protection = ConsoleProtection(KEY, secure=True)
    token = protection.csrf_token("session-a")
    assert protection.csrf_matches("session-a", token)
    assert not protection.csrf_matches("session-b", token)
    other = ConsoleProtection(console_key(secrets.token_urlsafe(32)), secure=True)
    assert not other.csrf_matches("session-a", token)


def test_a_notice_opens_once_for_its_session_and_only_while_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protection = ConsoleProtection(KEY, secure=True)
    sealed = protection.seal_notice("session-a", {"text": "hello"})
    assert protection.open_notice("session-a", sealed) == {"text": "hello"}
    assert protection.open_notice("session-b", sealed) is None
    assert protection.open_notice("session-a", sealed[:-4] + "AAAA") is None
    assert protection.open_notice("session-a", "not base64 at all!") is None
    later = clock.wall_clock() + timedelta(seconds=121)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    assert protection.open_notice("session-a", sealed) is None


def test_secure_cookies_carry_the_host_prefix_and_plain_ones_stay_under_admin() -> None:
    secure = ConsoleProtection(KEY, secure=True)
    assert secure.session_cookie == "__Host-vbauth_console"
    assert secure.cookie_path == "/"
    plain = ConsoleProtection(KEY, secure=False)
    assert plain.session_cookie == "vbauth_console"
    assert plain.cookie_path == "/admin"
