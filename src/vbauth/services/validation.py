"""Input rules shared by services: emails and usernames (reference §1.3)."""

from __future__ import annotations

import re

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
