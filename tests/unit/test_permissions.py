"""Permission bits (reference §5.1) and who may grant which."""

from __future__ import annotations

import pytest

from vbauth.permissions import Permission, agent_has, grantable_bits, is_admin_level

P = Permission


@pytest.mark.parametrize(
    ("held", "required", "expected"),
    [
        (P.CUSTOMER_ADMIN, P.CUSTOMER_ADMIN, True),
        (P.CUSTOMER_AGENT, P.CUSTOMER_ADMIN, False),
        (P.CUSTOMER_MANAGER, P.CUSTOMER_ADMIN | P.CUSTOMER_MANAGER, True),
        (P.NONE, P.ALL, True),  # "All" means any agent
        (P.CUSTOMER_AGENT, P.ALL, True),
        (P.NONE, P.CUSTOMER_AGENT, False),
        (P.ALL, P.PROJECT_SUPER_ADMIN, True),  # 65535 holds the superadmin bit
        (0x21, P.PROJECT_SUPER_ADMIN, True),
    ],
)
def test_agent_has(held: int, required: int, expected: bool) -> None:
    assert agent_has(held, required) is expected


@pytest.mark.parametrize(
    ("held", "grantable"),
    [
        (P.PROJECT_SUPER_ADMIN, 0xFFFF),
        (P.CUSTOMER_ADMIN, 0xF0),
        (P.CUSTOMER_ADMIN | P.CUSTOMER_MANAGER, 0xF0),
        (P.CUSTOMER_MANAGER, 0x50),
        (P.CUSTOMER_AGENT, 0),
        (P.NONE, 0),
    ],
)
def test_grantable_bits(held: int, grantable: int) -> None:
    assert grantable_bits(held) == grantable


def test_admin_level() -> None:
    assert is_admin_level(P.CUSTOMER_ADMIN)
    assert is_admin_level(P.PROJECT_SUPER_ADMIN)
    assert not is_admin_level(P.CUSTOMER_MANAGER | P.CUSTOMER_AGENT)
