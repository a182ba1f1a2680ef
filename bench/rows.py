"""A figure of the bench's table: a value, what it is compared with, and the target it meets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    label: str
    value: float
    unit: str
    cpu_us: float | None = None  # the server's CPU per request, where a server was loaded
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None  # None: a figure with no target (a baseline, say)
    guard_ok: bool | None = None  # within half the target (twice a bound): what CI requires


def ratio_row(
    label: str,
    value: float,
    unit: str,
    *,
    baseline: tuple[str, float],
    target: float | None = None,
    at_most: bool = False,
    cpu_us: float | None = None,
    guarded: bool = True,
) -> Row:
    """``value`` as a ratio of a baseline of the same run: at least (or most) ``target``.

    ``guarded=False``: the target is reported but not what CI requires (see run.py).
    """
    name, base = baseline
    row = Row(label, value, unit, cpu_us=cpu_us, baseline=name, ratio=value / base)
    if target is not None and row.ratio is not None:
        if at_most:
            row.target, row.ok, row.guard_ok = (
                f"<= {target}",
                row.ratio <= target,
                row.ratio <= target * 2,
            )
        else:
            row.target, row.ok, row.guard_ok = (
                f">= {target}",
                row.ratio >= target,
                row.ratio >= target / 2,
            )
        if not guarded:
            row.guard_ok = None
    return row


def bounded_row(label: str, value: float, unit: str, *, at_most: float) -> Row:
    """An absolute bound (a latency, a memory size): ``value`` at most ``at_most``."""
    return Row(
        label,
        value,
        unit,
        target=f"<= {at_most:g} {unit}",
        ok=value <= at_most,
        guard_ok=value <= at_most * 2,
    )
