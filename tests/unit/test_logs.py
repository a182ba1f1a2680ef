"""Credentials in log lines are cut to a prefix."""

from __future__ import annotations

import logging

from vbauth.logs import RedactCredentials, redact_credentials

JWT = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEifQ.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
KEY = "vb_abcdefgh12345678901234567890ab"


def test_tokens_and_keys_are_cut_wherever_they_stand() -> None:
    line = f'GET /v1.0/ws?token={JWT}&page_size=5 "x" /a?accesskey={KEY}#frag'
    redacted = redact_credentials(line)
    assert JWT not in redacted and KEY not in redacted
    assert f"token={JWT[:11]}...&page_size=5" in redacted
    assert f"accesskey={KEY[:11]}...#frag" in redacted


def test_other_parameters_and_short_values_are_left_alone() -> None:
    assert redact_credentials("mytoken=abcdefghijklmnop&x=1") == "mytoken=abcdefghijklmnop&x=1"
    assert redact_credentials("token=short") == "token=short"


def test_the_filter_redacts_format_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/v1.0/ws?token={JWT}"),
        None,
    )
    assert RedactCredentials().filter(record)
    assert JWT not in record.getMessage()
