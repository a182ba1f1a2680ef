"""Partial updates: the fields a request sent change, the ones it left out stay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vbauth import clock


def apply_changes(item: Any, changes: dict[str, Any], editable: Iterable[str]) -> None:
    """Set the editable fields present in ``changes`` and stamp ``tm_update``."""
    for name in editable:
        if name in changes:
            setattr(item, name, changes[name])
    item.tm_update = clock.now()
