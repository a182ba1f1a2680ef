"""Credentials in log lines are cut to a prefix, however their names are spelt."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time

import pytest

from vbauth.logs import (
    ACCESS_LOGGER,
    BackgroundStreamHandler,
    JsonFormatter,
    RedactCredentials,
    redact_credentials,
    redact_query,
    redact_shapes,
)

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


def _record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_the_background_handler_redacts_formats_and_writes_every_line_by_close() -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    for number in range(500):
        handler.handle(_record("uvicorn.error", "socket %s %d", f"/v1.0/ws?token={JWT}", number))
    handler.handle(_record(ACCESS_LOGGER, "GET %s", "/ping"))
    handler.close()  # drains the queue: nothing logged before it is lost
    lines = stream.getvalue().splitlines()
    assert len(lines) == 501
    assert lines[0] == f"uvicorn.error socket /v1.0/ws?token={JWT[:11]}... 0"
    assert lines[-1] == f"{ACCESS_LOGGER} GET /ping"
    assert JWT not in stream.getvalue()


def test_a_line_that_fails_to_format_does_not_stop_the_writer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.handle(_record("vbauth", "%d apples", "not a number"))
    handler.handle(_record("vbauth", "still writing"))
    handler.close()
    assert stream.getvalue() == "still writing\n"
    assert "Logging error" in capsys.readouterr().err  # logging's own report of the bad record


class _StuckStream(io.StringIO):
    """A stderr nobody reads: writes wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writing = threading.Event()

    def write(self, text: str) -> int:
        self.writing.set()
        self.release.wait(10)
        return super().write(text)


def test_a_writer_that_falls_behind_drops_lines_and_says_so_instead_of_growing() -> None:
    stream = _StuckStream()
    handler = BackgroundStreamHandler(stream)
    handler.handle(_record("vbauth", "the line the writer is stuck writing"))
    while not stream.writing.is_set():  # the writer took it and is blocked on the stream
        time.sleep(0.01)
    for number in range(BackgroundStreamHandler.MAX_WAITING + 3000):
        handler.handle(_record("vbauth", "line %d", number))
    assert handler.dropped == 3000  # the waiting lines are full: the rest is counted, not kept
    stream.release.set()
    handler.close()
    written = stream.getvalue()
    assert "3000 log line(s) dropped, the writer fell behind" in written
    assert written.count("\n") == 1 + BackgroundStreamHandler.MAX_WAITING + 1


DIRECT = "direct.9f86d081884c7d659a2feaa0c55ad015"


@pytest.mark.parametrize(
    "query",
    [
        f"ACCESSKEY={KEY}",
        f"a=1;token={JWT}",
        f"token%00={JWT}",
        f"x={KEY}",
        f"hash={DIRECT}",
        f"next=/v1.0/me%3Ftoken%3D{JWT}",
    ],
)
def test_credentials_are_cut_by_their_shape_whatever_their_name(query: str) -> None:
    redacted = redact_query(query)
    assert JWT not in redacted and KEY not in redacted and DIRECT not in redacted
    assert any(prefix + "..." in redacted for prefix in (JWT[:11], KEY[:11], DIRECT[:11]))


def test_a_credential_in_a_path_is_cut_too() -> None:
    assert redact_shapes(f"/v1.0/{KEY}/x") == f"/v1.0/{KEY[:11]}.../x"
    assert redact_shapes("/v1.0/calls/vb_short") == "/v1.0/calls/vb_short"  # not a key's shape


def test_a_traceback_is_redacted_too() -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    try:
        raise RuntimeError(f"failed looking up {DIRECT} with ?token={JWT}")
    except RuntimeError:
        record = logging.LogRecord(
            "vbauth.api", logging.ERROR, __file__, 1, "unhandled", (), sys.exc_info()
        )
    handler.handle(record)
    handler.close()
    assert "RuntimeError" in stream.getvalue()
    assert DIRECT not in stream.getvalue() and JWT not in stream.getvalue()


def test_a_password_in_a_query_is_not_logged_at_all() -> None:
    redacted = redact_query("username=ada&password=hunter2hunter2&PassWord=x&current_password=y")
    assert "hunter2" not in redacted and "=x" not in redacted and "=y" not in redacted
    assert redacted.startswith("username=ada&password=***")


def test_json_lines_leave_out_uvicorns_coloured_copy() -> None:
    record = _record("uvicorn.error", "Started server process [%d]", 42)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Started server process [42]" and "color_message" not in line
