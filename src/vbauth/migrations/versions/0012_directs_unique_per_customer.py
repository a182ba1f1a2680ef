"""A resource's live direct hash is unique within its customer, not across customers.

Across customers, anyone who learned another customer's resource id (an agent's, say) could
make a hash for it first and so keep its owner from ever having one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LIVE = sa.text("tm_delete IS NULL")


def upgrade() -> None:
    op.drop_index("uq_directs_resource_live", table_name="directs")
    op.create_index(
        "uq_directs_resource_live",
        "directs",
        ["customer_id", "resource_type", "resource_id"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_directs_resource_live", table_name="directs")
    op.create_index(
        "uq_directs_resource_live",
        "directs",
        ["resource_type", "resource_id"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
