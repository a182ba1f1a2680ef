"""Logging that never carries a whole credential."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

CREDENTIAL_NAMES = frozenset({"token", "accesskey"})
CREDENTIAL_PREFIX_LENGTH = 11  # as much of a credential as may be shown: "vb_" + 8, say
# A query string inside a log line: from "?" to the next whitespace (quotes may be inside it).
_QUERY_IN_TEXT = re.compile(r"\?(\S+)")


def redact_query(query: str) -> str:
    """The query with credentials cut to a prefix, its other bytes as they were.

    Names are compared decoded, as the server reads them, so ``%74oken=`` is caught too.
    """
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        decoded = unquote_plus(name)
        if equals and decoded in CREDENTIAL_NAMES and len(value) > CREDENTIAL_PREFIX_LENGTH:
            value = value[:CREDENTIAL_PREFIX_LENGTH] + "..."
        pairs.append(f"{name}{equals}{value}")
    return "&".join(pairs)


def redact_credentials(text: str) -> str:
    """Every query string in ``text`` with its credentials cut to a prefix."""
    return _QUERY_IN_TEXT.sub(lambda match: "?" + redact_query(match.group(1)), text)


class RedactCredentials(logging.Filter):
    """A handler filter for logs vbauth does not write itself (uvicorn's WebSocket lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_credentials(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_credentials(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
