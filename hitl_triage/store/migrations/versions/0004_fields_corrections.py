"""item fields and answer corrections: several shown fields per item, a corrected field per answer

Revision ID: 0004_fields
Revises: 0003_models
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_fields"
down_revision = "0003_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("fields", sa.Text(), nullable=True))
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("correction", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("correction")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("fields")
