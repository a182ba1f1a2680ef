"""Logging that never carries a whole credential."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote_plus

CREDENTIAL_NAMES = frozenset({"token", "accesskey"})
# Never part of a query vbauth reads, but people put them there: logged as "***", whole.
SECRET_NAMES = frozenset({"password", "current_password", "admin_password", "new_password"})
ACCESS_LOGGER = "vbauth.access"  # one line per request, written already redacted
CREDENTIAL_PREFIX_LENGTH = 11  # as much of a credential as may be shown: "vb_" + 8, say
# A query string inside a log line: from "?" to the next whitespace (quotes may be inside it).
_QUERY_IN_TEXT = re.compile(r"\?(\S+)")


# Whatever its name or place, a value shaped like one of vbauth's credentials is cut: a `vb_`
# key, a JWT (its JSON header always starts "eyJ"), a direct hash. Their first 11 characters
# stay, as everywhere: enough to tell which one, not enough to use it.
_SHAPED = re.compile(
    r"(vb_[0-9A-Za-z]{8})[0-9A-Za-z]{8,}"
    r"|(eyJ[A-Za-z0-9_-]{8})[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"
    r"|(direct\.[0-9a-f]{4})[0-9a-f]{8,}",
    re.IGNORECASE,
)
_SHAPE_MARKS = ("vb_", "eyj", "direct.")


def redact_shapes(text: str) -> str:
    """``text`` with every credential-shaped run cut to its prefix."""
    lowered = text.lower()
    if not any(mark in lowered for mark in _SHAPE_MARKS):
        return text  # the common case, checked cheaply
    return _SHAPED.sub(lambda match: next(group for group in match.groups() if group) + "...", text)


def redact_query(query: str) -> str:
    """The query with credentials cut to a prefix, its other bytes as they were.

    Names are compared decoded and without case, so ``%74oken=`` and ``ACCESSKEY=`` are caught
    too; then anything shaped like a credential is cut wherever it stands (``a=1;token=…``).
    """
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        decoded = unquote_plus(name).lower().rstrip("\x00")
        if equals and decoded in CREDENTIAL_NAMES and len(value) > CREDENTIAL_PREFIX_LENGTH:
            value = value[:CREDENTIAL_PREFIX_LENGTH] + "..."
        elif equals and decoded in SECRET_NAMES and value:
            value = "***"  # not even a prefix: a password's start is a password's start
        pairs.append(f"{name}{equals}{value}")
    return redact_shapes("&".join(pairs))


def redact_credentials(text: str) -> str:
    """Every query string in ``text`` with its credentials cut to a prefix, and every
    credential-shaped run anywhere else in it."""
    return redact_shapes(_QUERY_IN_TEXT.sub(lambda match: "?" + redact_query(match.group(1)), text))


_TRACEBACKS = logging.Formatter()


class RedactCredentials(logging.Filter):
    """A handler filter for logs vbauth does not write itself (uvicorn's WebSocket lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            # A traceback's text (an error's message, a statement's parameters) is formatted
            # after the filters run: format it now, redacted, and the formatter will use it.
            record.exc_text = redact_credentials(_TRACEBACKS.formatException(record.exc_info))
        if isinstance(record.msg, str):
            record.msg = redact_credentials(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_credentials(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``VBAUTH_LOG_FORMAT=json``): time, level, logger, message,
    and every field the line was given (an access line's request id, route, status, latency,
    identity kind, customer id, client address; an audit line's event and actor).

    Records reach it redacted (``RedactCredentials``; access lines are written redacted), and
    their fields hold ids and prefixes, never a credential.
    """

    # A record's own attributes, and uvicorn's ANSI-coloured copy of its message.
    STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
        "message",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self.STANDARD and value is not None:
                entry[key] = value
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(log_format: str) -> dict[str, Any]:
    """The logging setup ``vbauth serve`` hands uvicorn: text lines, or JSON objects."""
    formatter: dict[str, Any] = (
        {"()": "vbauth.logs.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "filters": {
            "refused_sockets": {"()": "vbauth.logs.RefusedSocketsAreInfo"},
            "traceless": {"()": "vbauth.logs.TracelessDriverWarnings"},
        },
        # Redaction (RedactCredentials), formatting and writing happen in the handler's own
        # thread.
        "handlers": {
            "stderr": {"class": "vbauth.logs.BackgroundStreamHandler", "formatter": "main"}
        },
        "loggers": {
            "vbauth": {"handlers": ["stderr"], "level": "INFO"},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO"},
            "uvicorn.error": {"level": "INFO", "filters": ["refused_sockets"]},
            # The hot reads' own pool; its reconnection warnings without their traces.
            "asyncpg": {"handlers": ["stderr"], "level": "WARNING", "filters": ["traceless"]},
            # A logger's filters see only its own records: the pool logs under its own name.
            "asyncpg.pool": {"level": "WARNING", "filters": ["traceless"]},
        },
    }


REFUSED_SOCKET = "ASGI callable returned without completing handshake."


class RefusedSocketsAreInfo(logging.Filter):
    """uvicorn logs a socket refused before its upgrade (vbauth answers those with the HTTP
    envelope, ``api/ws.py``) as an ERROR: anyone could fill the error log with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.msg == REFUSED_SOCKET:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "a WebSocket was refused before its upgrade"
        return True


class TracelessDriverWarnings(logging.Filter):
    """A database driver's warnings as one line: the kind of error, not its traceback.

    asyncpg's pool logs a warning with a full trace each time it fails to reconnect; during an
    outage that is a trace a second, when "the database does not answer" is all there is to say.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno < logging.ERROR:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class BackgroundStreamHandler(logging.Handler):
    """Writes log lines to stderr from a thread of its own, off the event loop.

    ``emit`` only appends the record to a list; redaction, formatting and the write happen in
    the writer thread, which takes what has gathered every ``INTERVAL`` seconds. So a request
    pays for creating its log record and one append, and nothing more: no lock, and no wake-up
    of another thread (waking the writer for each record cost more than the rest of a request
    to ``/ping``). A slow terminal or pipe never stalls the loop. ``close`` (called by
    ``logging.shutdown`` at exit) writes what is left, so no line is lost.
    """

    MAX_WAITING = 10_000  # lines; past it (stderr blocked, say) new lines are counted, not kept
    INTERVAL = 0.05  # seconds between writes: a line appears at most this late

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream or sys.stderr
        # deque's append and popleft are atomic: the loop appends, the writer takes, no lock.
        self._waiting: deque[logging.LogRecord] = deque()
        self.dropped = 0  # approximate: counted by emit, reset by the writer
        self._redact = RedactCredentials()
        self._closing = threading.Event()
        self._writer = threading.Thread(target=self._write_all, name="vbauth-log", daemon=True)
        self._writer.start()

    def handle(self, record: logging.LogRecord) -> bool:
        """``Handler.handle`` without its lock: ``emit`` needs none (see ``_waiting``)."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._waiting) < self.MAX_WAITING:
            self._waiting.append(record)
        else:
            self.dropped += 1  # memory stays bounded; the writer reports the gap

    def _write_all(self) -> None:
        """Every ``INTERVAL``, write what gathered in one go and flush once; until closed."""
        while not self._closing.wait(self.INTERVAL):
            self._write_waiting()
        self._write_waiting()

    def _write_waiting(self) -> None:
        if not self._waiting and not self.dropped:
            return
        lines = []
        for _ in range(len(self._waiting)):  # what is there now; later lines wait their turn
            record = self._waiting.popleft()
            try:
                if not record.name.startswith(ACCESS_LOGGER):  # access lines come redacted
                    self._redact.filter(record)
                lines.append(self.format(record) + "\n")
            except Exception:  # a log line must never take the writer down
                self.handleError(record)
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            notice = logging.LogRecord(
                "vbauth.logs",
                logging.WARNING,
                "",
                0,
                "%d log line(s) dropped, the writer fell behind",
                (dropped,),
                None,
            )
            lines.append(self.format(notice) + "\n")  # in the log's own format (JSON too)
        self._stream.write("".join(lines))
        self._stream.flush()

    def close(self) -> None:
        if self._writer.is_alive():
            self._closing.set()  # the writer writes what is left, then ends
            self._writer.join(timeout=5)
        super().close()


def lean_log_records() -> None:
    """Stop ``logging`` collecting what vbauth's formats never show (the logging HOWTO's
    "Optimization" switches): the caller's frame, thread, process and multiprocessing names.

    Finding the caller alone walks the stack on every record; the server logs a line per request.
    """
    logging._srcfile = None  # the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
