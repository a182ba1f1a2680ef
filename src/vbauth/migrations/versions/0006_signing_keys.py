"""Ed25519 signing keys, kept in the database so every instance signs and verifies alike.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sealed_private_key", sa.Text(), nullable=False),
        sa.Column("tm_create", Timestamp, nullable=False),
        sa.Column("tm_activate", Timestamp, nullable=False),
        sa.Column("tm_retire", Timestamp, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
