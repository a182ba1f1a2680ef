"""Delegations: a superadmin acting as one customer's admin, with a reason.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("agent_id", sa.Uuid(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_expire", Timestamp, nullable=False),
        sa.Column("tm_revoke", Timestamp, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("delegations")
