"""Credentials in log lines are cut to a prefix, however their names are spelt."""

from __future__ import annotations

import logging

import pytest

from vbauth.logs import RedactCredentials, redact_credentials, redact_query

JWT = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEifQ.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
KEY = "vb_abcdefgh12345678901234567890ab"


def test_tokens_and_keys_are_cut_wherever_they_stand() -> None:
    line = f'GET /v1.0/ws?token={JWT}&page_size=5 "x" /a?accesskey={KEY}'
    redacted = redact_credentials(line)
    assert JWT not in redacted and KEY not in redacted
    assert f"token={JWT[:11]}...&page_size=5" in redacted
    assert f"accesskey={KEY[:11]}..." in redacted


@pytest.mark.parametrize("name", ["%74oken", "tok%65n", "%74%6F%6B%65%6E", "access%6Bey"])
def test_percent_encoded_names_are_caught(name: str) -> None:
    redacted = redact_query(f"a=1&{name}={JWT}")
    assert JWT not in redacted
    assert redacted.startswith(f"a=1&{name}=")


def test_other_parameters_and_short_values_are_left_alone() -> None:
    assert redact_query("mytoken=abcdefghijklmnop&x=1") == "mytoken=abcdefghijklmnop&x=1"
    assert redact_query("token=short") == "token=short"


def test_the_filter_redacts_format_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/v1.0/ws?%74oken={JWT}"),
        None,
    )
    assert RedactCredentials().filter(record)
    assert JWT not in record.getMessage()
