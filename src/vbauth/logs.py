"""Logging that never carries a whole credential."""

from __future__ import annotations

import logging
import re

CREDENTIAL_PREFIX_LENGTH = 11  # as much of a credential as may be shown: "vb_" + 8, say
# token=… or accesskey=… in a query string, wherever it appears in a log line.
_CREDENTIAL_PARAMETER = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_])(?:token|accesskey)=)(?P<value>[^&\s\"'#]+)"
)


def redact_credentials(text: str) -> str:
    """Cut every ``token=``/``accesskey=`` value in ``text`` to its first 11 characters."""

    def cut(match: re.Match[str]) -> str:
        value = match.group("value")
        if len(value) <= CREDENTIAL_PREFIX_LENGTH:
            return match.group(0)
        return f"{match.group('name')}{value[:CREDENTIAL_PREFIX_LENGTH]}..."

    return _CREDENTIAL_PARAMETER.sub(cut, text)


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
