"""Accesskeys, one-time tokens (verification, reset) and the mail outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accesskeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("tm_expire", Timestamp, nullable=False),
        sa.Column("tm_last_used", Timestamp, nullable=True),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_update", Timestamp, nullable=True),
        sa.Column("tm_delete", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_accesskeys_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accesskeys")),
    )
    op.create_index("uq_accesskeys_token_hash", "accesskeys", ["token_hash"], unique=True)
    op.create_index(
        "ix_accesskeys_customer_id_tm_create", "accesskeys", ["customer_id", "tm_create"]
    )

    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_expire", Timestamp, nullable=False),
        sa.Column("tm_used", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_one_time_tokens_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_one_time_tokens_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
    )
    op.create_index("uq_one_time_tokens_token_hash", "one_time_tokens", ["token_hash"], unique=True)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_claim", Timestamp, nullable=True),
        sa.Column("tm_sent", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_status_tm_create", "outbox", ["status", "tm_create"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("one_time_tokens")
    op.drop_table("accesskeys")
