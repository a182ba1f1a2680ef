"""The console's cookies, its CSRF tokens and its one-time notices (pure: no I/O, no HTTP).

The console's session cookie holds a login token of its own (a login session like any other,
listed under Sessions and ended by logout, password change or revocation). Forms carry a CSRF
token derived from that login session, so a token cannot be carried from one session to
another; the sign-in form, which has no session yet, is bound to a random cookie instead.

A one-time notice ("Key created", and the new key itself) travels in a short-lived cookie
sealed with AES-256-GCM and bound to the login session, so the page that shows it can be a
plain GET: reloading it shows the key no more, and no copy of the key is kept anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_COOKIE = "vbauth_console"
SIGNIN_COOKIE = "vbauth_console_signin"
NOTICE_COOKIE = "vbauth_console_notice"
COOKIE_PATH = "/admin"  # never sent to the API: the console's session is the console's alone
NOTICE_SECONDS = 120  # long enough for the redirect that follows a form, no longer
NONCE_BYTES = 12


def console_key(installation_secret: str) -> bytes:
    """The console's own key, derived one way from the installation secret."""
    return hmac.new(
        installation_secret.encode(), b"vbauth admin console v1", hashlib.sha256
    ).digest()


class ConsoleSeal:
    """CSRF tokens and sealed notices under the console key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def csrf_token(self, bound_to: str) -> str:
        """The token a form must send back: a MAC of what it is bound to (a session id, or the
        sign-in cookie's random value)."""
        mac = hmac.new(self._key, b"csrf:" + bound_to.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def csrf_matches(self, bound_to: str, sent: str) -> bool:
        return hmac.compare_digest(self.csrf_token(bound_to).encode(), sent.encode())

    def seal_notice(self, bound_to: str, notice: dict[str, Any]) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key).encrypt(nonce, json.dumps(notice).encode(), _aad(bound_to))
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open_notice(self, bound_to: str, sealed: str) -> dict[str, Any] | None:
        """The notice, or None when it is not one of ours for this session (or was altered)."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            opened = AESGCM(self._key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(bound_to))
            notice = json.loads(opened)
        except (ValueError, binascii.Error, InvalidTag):
            return None
        return notice if isinstance(notice, dict) else None


def _aad(bound_to: str) -> bytes:
    return b"notice:" + bound_to.encode()


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(32)
