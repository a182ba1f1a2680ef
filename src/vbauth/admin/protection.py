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

from vbauth import clock

NOTICE_SECONDS = 120  # long enough for the redirect that follows a form, no longer
NONCE_BYTES = 12


def console_key(installation_secret: str) -> bytes:
    """The console's own key, derived one way from the installation secret."""
    return hmac.new(
        installation_secret.encode(), b"vbauth admin console v1", hashlib.sha256
    ).digest()


class ConsoleProtection:
    """The console's cookie names, CSRF tokens and sealed notices, under the console key.

    With Secure cookies the names carry the ``__Host-`` prefix: the browser then takes them
    only from this very host, over HTTPS, for path ``/`` and no domain, so a page on a sibling
    subdomain cannot plant its own session in the console ("cookie tossing"). The prefix needs
    path ``/``: the API is sent these cookies too, and never reads them. Without Secure (plain
    HTTP development) the prefix is impossible, and the path is ``/admin``.
    """

    def __init__(self, key: bytes, *, secure: bool) -> None:
        self._key = key
        prefix = "__Host-" if secure else ""
        self.session_cookie = prefix + "vbauth_console"
        self.signin_cookie = prefix + "vbauth_console_signin"
        self.notice_cookie = prefix + "vbauth_console_notice"
        self.cookie_path = "/" if secure else "/admin"

    def csrf_token(self, bound_to: str) -> str:
        """The token a form must send back: a MAC of what it is bound to (a session id, or the
        sign-in cookie's random value)."""
        mac = hmac.new(self._key, b"csrf:" + bound_to.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def csrf_matches(self, bound_to: str, sent: str) -> bool:
        return hmac.compare_digest(self.csrf_token(bound_to).encode(), sent.encode())

    def seal_notice(self, bound_to: str, notice: dict[str, Any]) -> str:
        """The notice sealed to one login session, and to the moment it was made."""
        stamped = {**notice, "at": clock.wall_clock().timestamp()}
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key).encrypt(nonce, json.dumps(stamped).encode(), _aad(bound_to))
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open_notice(self, bound_to: str, sealed: str) -> dict[str, Any] | None:
        """The notice, or None when it is not one of ours for this session, was altered, or
        is older than ``NOTICE_SECONDS`` (the cookie's own age is the browser's to keep: a
        copy of it replayed later must not open, or a new key could be seen again for days)."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            opened = AESGCM(self._key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(bound_to))
            notice = json.loads(opened)
        except (ValueError, binascii.Error, InvalidTag):
            return None
        if not isinstance(notice, dict):
            return None
        age = clock.wall_clock().timestamp() - float(notice.pop("at", 0))
        return notice if 0 <= age <= NOTICE_SECONDS else None


def _aad(bound_to: str) -> bytes:
    return b"notice:" + bound_to.encode()


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(32)
