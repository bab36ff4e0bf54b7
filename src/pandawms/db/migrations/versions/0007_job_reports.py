"""job_reports: the job report (metadata) and pilot-log tail that pilots send in update_job

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_reports",
        sa.Column("panda_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("meta_data", sa.Text(), server_default="", nullable=False),
        sa.Column("pilot_log", sa.Text(), server_default="", nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("panda_id"),
    )


def downgrade() -> None:
    op.drop_table("job_reports")
