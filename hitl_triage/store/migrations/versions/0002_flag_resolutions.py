"""flag resolutions: a flag stays in the admin queue until an admin resolves it

Revision ID: 0002_flags
Revises: 0001
Create Date: 2026-12-02 11:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_flags"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_resolutions",
        sa.Column("answer_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.id"]),
        sa.PrimaryKeyConstraint("answer_id"),
    )


def downgrade() -> None:
    op.drop_table("flag_resolutions")
