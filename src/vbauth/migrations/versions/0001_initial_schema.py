"""Initial schema: customers, agents, login sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("pending_email", sa.String(length=254), nullable=False),
        sa.Column("phone_number", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("webhook_method", sa.String(length=8), nullable=False),
        sa.Column("webhook_uri", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=128), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identity_verification_status", sa.String(length=16), nullable=False),
        sa.Column("terms_agreed_version", sa.String(length=64), nullable=False),
        sa.Column("terms_agreed_ip", sa.String(length=64), nullable=False),
        sa.Column("tm_deletion_scheduled", Timestamp, nullable=True),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_update", Timestamp, nullable=True),
        sa.Column("tm_delete", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index("ix_customers_tm_create", "customers", ["tm_create"])
    live_email = sa.text("tm_delete IS NULL AND email != ''")
    op.create_index(
        "uq_customers_email_live",
        "customers",
        ["email"],
        unique=True,
        sqlite_where=live_email,
        postgresql_where=live_email,
    )

    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ring_method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("permission", sa.BigInteger(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_update", Timestamp, nullable=True),
        sa.Column("tm_delete", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_agents_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    op.create_index("ix_agents_customer_id_tm_create", "agents", ["customer_id", "tm_create"])
    live = sa.text("tm_delete IS NULL")
    op.create_index(
        "uq_agents_username_live",
        "agents",
        ["username"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )

    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_expire", Timestamp, nullable=False),
        sa.Column("tm_revoke", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_login_sessions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_login_sessions_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
    )
    op.create_index("ix_login_sessions_agent_id", "login_sessions", ["agent_id"])


def downgrade() -> None:
    op.drop_table("login_sessions")
    op.drop_table("agents")
    op.drop_table("customers")
