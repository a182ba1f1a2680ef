"""Agent permission bits (reference §5.1) and who may grant which of them."""

from __future__ import annotations

from enum import IntFlag


class Permission(IntFlag):
    NONE = 0
    PROJECT_SUPER_ADMIN = 0x0001
    PROJECT_ALL = 0x000F
    CUSTOMER_AGENT = 0x0010
    CUSTOMER_ADMIN = 0x0020
    CUSTOMER_MANAGER = 0x0040
    CUSTOMER_ALL = 0x00F0
    ALL = 0xFFFF


MAX_PERMISSION = int(Permission.ALL)
PROJECT_BITS = int(Permission.PROJECT_ALL)
CUSTOMER_BITS = int(Permission.CUSTOMER_ALL)
ADMIN_OR_MANAGER = int(Permission.CUSTOMER_ADMIN | Permission.CUSTOMER_MANAGER)
# Plain ints for the checks every request makes: IntFlag arithmetic builds enum members.
SUPER_ADMIN_BIT = int(Permission.PROJECT_SUPER_ADMIN)
CUSTOMER_ADMIN_BIT = int(Permission.CUSTOMER_ADMIN)
# Bits that only the platform may hold: the project nibble and everything above the customer byte.
PLATFORM_BITS = MAX_PERMISSION & ~CUSTOMER_BITS


def agent_has(permission: int, required: int) -> bool:
    """The reference's agent rule: ``All`` is any agent; otherwise any overlapping bit."""
    if required == MAX_PERMISSION:
        return True
    return permission & required != 0


def grantable_bits(permission: int) -> int:
    """The bits an agent holding ``permission`` may give, take away, or manage in others.

    The reference lets a manager mint an admin, and anyone who can create an agent mint a
    superadmin. Here authority only flows downward: superadmins grant anything, admins the
    customer byte, managers agent and manager, plain agents nothing.
    """
    if permission & Permission.PROJECT_SUPER_ADMIN:
        return MAX_PERMISSION
    if permission & Permission.CUSTOMER_ADMIN:
        return CUSTOMER_BITS
    if permission & Permission.CUSTOMER_MANAGER:
        return int(Permission.CUSTOMER_AGENT | Permission.CUSTOMER_MANAGER)
    return 0


def is_admin_level(permission: int) -> bool:
    """Holds customer admin or platform superadmin: what "the last admin" counts."""
    return permission & (Permission.CUSTOMER_ADMIN | Permission.PROJECT_SUPER_ADMIN) != 0
