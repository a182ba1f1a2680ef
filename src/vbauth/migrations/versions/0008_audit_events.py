"""The audit log: security events, append-only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_username", sa.String(254), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(256), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
    )
    op.create_index(
        "ix_audit_events_customer_id_tm_create", "audit_events", ["customer_id", "tm_create"]
    )
    op.create_index("ix_audit_events_tm_create", "audit_events", ["tm_create"])


def downgrade() -> None:
    op.drop_table("audit_events")
