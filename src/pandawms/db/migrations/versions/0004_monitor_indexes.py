"""per-queue and per-user state/time indexes for the monitor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:15:00

ix_jobs_site_status (computing_site, job_status) becomes a prefix of the new per-queue index, so it is
replaced rather than kept beside it.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_site_status_modtime", "jobs", ["computing_site", "job_status", "modification_time"]
    )
    op.create_index(
        "ix_jobs_user_status_modtime",
        "jobs",
        ["prod_user_name", "job_status", "modification_time"],
    )
    op.drop_index("ix_jobs_site_status", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_site_status", "jobs", ["computing_site", "job_status"])
    op.drop_index("ix_jobs_user_status_modtime", table_name="jobs")
    op.drop_index("ix_jobs_site_status_modtime", table_name="jobs")
