"""Direct hashes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "directs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_update", Timestamp, nullable=True),
        sa.Column("tm_delete", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_directs_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directs")),
    )
    op.create_index("uq_directs_hash", "directs", ["hash"], unique=True)
    live = sa.text("tm_delete IS NULL")
    op.create_index(
        "uq_directs_resource_live",
        "directs",
        ["resource_type", "resource_id"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    op.create_index("ix_directs_customer_id_tm_create", "directs", ["customer_id", "tm_create"])


def downgrade() -> None:
    op.drop_table("directs")
