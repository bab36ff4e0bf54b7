"""job_files.dataset index: the jobs that read or wrote a dataset (the monitor's dataset page)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_files_dataset", "job_files", ["dataset"])


def downgrade() -> None:
    op.drop_index("ix_job_files_dataset", table_name="job_files")
