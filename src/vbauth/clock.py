"""The one place vbauth reads the time, so tests can move it and timestamps sort strictly."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_ONE_MICROSECOND = timedelta(microseconds=1)
_MAX_BUMP = timedelta(seconds=1)
_lock = threading.Lock()
_last: datetime | None = None


def now() -> datetime:
    """The current UTC time, strictly later than any earlier call in this process.

    Lists page by ``tm_create`` (the reference's cursor), so two rows created in the same
    microsecond could straddle a page boundary and one would be skipped. Bumping by a microsecond
    keeps every timestamp this process hands out distinct. A clock stepped back by more than a
    second (NTP, or a test travelling in time) is followed rather than waited out.
    """
    global _last
    current = wall_clock()
    with _lock:
        if _last is not None and _last - _MAX_BUMP < current <= _last:
            current = _last + _ONE_MICROSECOND
        _last = current
    return current


def wall_clock() -> datetime:
    """Plain UTC wall-clock time; tests replace this to travel in time."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the reference's fixed-width UTC form."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        raise ValueError("timestamp out of range") from error
