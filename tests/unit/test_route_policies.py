"""Route policies: which policy a path falls under, however an upstream might read it."""

from __future__ import annotations

import pytest

from vbauth.gateway.policies import RoutePolicy, RouteTable


def _table() -> RouteTable:
    def policy(prefix: str, permission: int) -> RoutePolicy:
        return RoutePolicy(prefix, "http://x", permission, frozenset({"agent"}), frozenset())

    return RouteTable([policy("/v1.0/things", 96), policy("/v1.0/things/admin", 1)])


@pytest.mark.parametrize(
    "path",
    ["/v1.0/things/admin", "/v1.0/things/ADMIN", "/v1.0/things/Admin/x", "/v1.0/things/admin.json"],
)
def test_the_stricter_policy_holds_whatever_the_case_or_suffix(path: str) -> None:
    matched = _table().match(path)
    assert matched is not None and matched.permission == 1


@pytest.mark.parametrize("path", ["/v1.0/things", "/v1.0/things/7", "/v1.0/things/administrator"])
def test_other_paths_fall_under_the_broader_policy(path: str) -> None:
    matched = _table().match(path)
    assert matched is not None and matched.permission == 96


def test_a_prefix_does_not_cover_a_longer_name() -> None:
    assert _table().match("/v1.0/thingsx") is None
