"""Who froze a customer: its owner may undo only its own unregistering.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("frozen_by", sa.String(16), nullable=False, server_default=""))
    # Existing frozen customers were frozen by unregistering: nothing else could freeze.
    op.execute("UPDATE customers SET frozen_by = 'owner' WHERE status = 'frozen'")


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("frozen_by")
