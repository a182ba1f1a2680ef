"""A tier's rate, ``rate/burst`` per second as the settings write it."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` requests on average, ``burst`` at once from a full bucket (GCRA)."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        """Seconds between two requests at the steady rate."""
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        """How far ahead of now a bucket may run before it refuses: room for ``burst``."""
        return (self.burst - 1) * self.interval

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst}"


def parse_rate(text: str) -> Rate | None:
    """``"10/20"`` → 10 per second, 20 at once; ``"10"`` → 10 and 10; ``"0"`` → no limit."""
    cleaned = text.strip()
    rate_text, _, burst_text = cleaned.partition("/")
    try:
        per_second = float(rate_text)
        burst = int(burst_text) if burst_text else max(1, math.ceil(per_second))
    except ValueError:
        raise ValueError(
            f"a rate is written rate/burst, e.g. 10/20, or 0 for none: {text!r}"
        ) from None
    if not math.isfinite(per_second) or per_second < 0 or burst < 0:
        raise ValueError(f"a rate and its burst must be finite and not negative: {text!r}")
    if per_second == 0:
        return None
    if burst == 0:
        # "5/0" reads as "5 a second, no burst", not as "off": refuse it rather than guess.
        raise ValueError(f"a burst must be at least 1 (or the rate 0, for no limit): {text!r}")
    return Rate(per_second, burst)
