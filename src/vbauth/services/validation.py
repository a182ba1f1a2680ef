"""Rules shared by services: emails and usernames (reference §1.3), verified signups."""

from __future__ import annotations

import re

from vbauth.identity import Identity
from vbauth.services.errors import PermissionDenied

_LOCAL = r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*")
MAX_EMAIL_LENGTH = 254


def is_valid_email(value: str) -> bool:
    """The reference's rule: one ``@``, no ``..``, no trailing dots, RFC-ish characters."""
    if not value or len(value) > MAX_EMAIL_LENGTH or ".." in value or value.endswith("."):
        return False
    local, at, domain = value.partition("@")
    if not at or not local or not domain or local.endswith(".") or "@" in domain:
        return False
    return _EMAIL.fullmatch(value) is not None


def normalize_username(value: str) -> str:
    """Usernames (emails) compare without case or surrounding space, here and in the index."""
    return value.strip().lower()


normalize_email = normalize_username


def require_verified_signup(by: Identity) -> None:
    """Refuse what would outlive a signup nobody has verified yet.

    Anyone can sign up with someone else's address. Until the owner follows the link, the
    signup's credentials may look around but not dig in: no agents, no keys, no passwords, no
    new email or webhook, so the owner does not inherit an attacker's foothold on verifying.
    """
    if by.unverified_signup and not by.is_superadmin:
        raise PermissionDenied(
            "Verify the signup's email address first.", reason="EMAIL_NOT_VERIFIED"
        )
