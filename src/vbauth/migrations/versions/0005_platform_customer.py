"""The operators' own customer is marked, so `vbauth bootstrap` can restore its superadmin.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("is_platform", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Existing installations: the customers whose agents hold the superadmin bit are the
    # platform's (only bootstrap and superadmins could have given that bit).
    op.execute(
        "UPDATE customers SET is_platform = true WHERE id IN "
        "(SELECT customer_id FROM agents WHERE (permission & 1) != 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("is_platform")
