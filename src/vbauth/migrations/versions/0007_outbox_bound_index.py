"""An index for the hourly mail bound: recent mails by recipient and kind.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_recipient_purpose_tm_create", "outbox", ["recipient", "purpose", "tm_create"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient_purpose_tm_create", table_name="outbox")
