"""Object-to-resource bindings, learnt from events (for direct-token subscriptions).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("bound_to", sa.Uuid(), nullable=False),
        sa.Column("tm_create", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "object_id", name=op.f("pk_bindings")),
    )


def downgrade() -> None:
    op.drop_table("bindings")
