"""The clock: strictly increasing timestamps, fixed-width formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vbauth import clock


def test_timestamps_strictly_increase_even_within_a_microsecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = datetime(2030, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(clock, "wall_clock", lambda: frozen)
    moments = [clock.now() for _ in range(1000)]
    assert moments == sorted(set(moments))
    assert moments[-1] - moments[0] == timedelta(microseconds=999)


def test_a_clock_stepped_far_back_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "wall_clock", lambda: datetime(2031, 1, 1, tzinfo=UTC))
    clock.now()
    monkeypatch.setattr(clock, "wall_clock", lambda: datetime(2030, 6, 1, tzinfo=UTC))
    assert clock.now() == datetime(2030, 6, 1, tzinfo=UTC)


def test_format_and_parse_round_trip() -> None:
    moment = datetime(2026, 4, 6, 20, 0, 0, 5, tzinfo=UTC)
    assert clock.format_timestamp(moment) == "2026-04-06T20:00:00.000005Z"
    assert clock.parse_timestamp("2026-04-06T20:00:00.000005Z") == moment
    assert clock.parse_timestamp("2026-04-06T22:00:00.000005+02:00") == moment
    with pytest.raises(ValueError):
        clock.parse_timestamp("2026-04-06T20:00:00")
