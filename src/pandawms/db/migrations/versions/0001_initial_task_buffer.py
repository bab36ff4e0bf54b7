"""initial task buffer

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:43:28.473463
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "brokerage_decisions",
        sa.Column("panda_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("decision_time", sa.DateTime(), nullable=False),
        sa.Column("chosen", sa.String(length=128), nullable=True),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("rejected", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("panda_id"),
    )
    op.create_table(
        "job_status_history",
        sa.Column(
            "row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("panda_id", sa.BigInteger(), nullable=False),
        sa.Column("job_status", sa.String(length=32), nullable=False),
        sa.Column("previous_status", sa.String(length=32), server_default="", nullable=False),
        sa.Column("change_time", sa.DateTime(), nullable=False),
        sa.Column("modification_host", sa.String(length=128), server_default="", nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("row_id"),
    )
    with op.batch_alter_table("job_status_history", schema=None) as batch_op:
        batch_op.create_index("ix_job_status_history_panda_id", ["panda_id"], unique=False)
        batch_op.create_index("ix_job_status_history_time", ["change_time"], unique=False)

    op.create_table(
        "jobs",
        sa.Column(
            "panda_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_name", sa.String(length=256), server_default="", nullable=False),
        sa.Column("job_status", sa.String(length=32), nullable=False),
        sa.Column("job_sub_status", sa.String(length=80), server_default="", nullable=False),
        sa.Column("command_to_pilot", sa.String(length=250), server_default="", nullable=False),
        sa.Column("attempt_nr", sa.Integer(), server_default="1", nullable=False),
        sa.Column("max_attempt", sa.Integer(), server_default="3", nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("relation_type", sa.String(length=32), server_default="", nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("jobset_id", sa.BigInteger(), nullable=True),
        sa.Column("prod_source_label", sa.String(length=20), nullable=False),
        sa.Column("prod_user_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("current_priority", sa.Integer(), server_default="1000", nullable=False),
        sa.Column("computing_site", sa.String(length=128), nullable=True),
        sa.Column("relocation_flag", sa.Integer(), server_default="0", nullable=False),
        sa.Column("included_sites", sa.Text(), server_default="", nullable=False),
        sa.Column("excluded_sites", sa.Text(), server_default="", nullable=False),
        sa.Column("transformation", sa.Text(), nullable=False),
        sa.Column("job_parameters", sa.Text(), server_default="", nullable=False),
        sa.Column("min_ram_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("core_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("max_walltime", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_disk_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("creation_time", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.Column("state_change_time", sa.DateTime(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("modification_host", sa.String(length=128), server_default="", nullable=False),
        sa.Column("pilot_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column("batch_id", sa.String(length=80), server_default="", nullable=False),
        sa.Column("trans_exit_code", sa.Integer(), nullable=True),
        sa.Column("pilot_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pilot_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("exe_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exe_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("ddm_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ddm_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("jobdispatcher_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobdispatcher_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("taskbuffer_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("taskbuffer_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("brokerage_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("brokerage_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("sup_error_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sup_error_diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("cpu_consumption_time", sa.BigInteger(), nullable=True),
        sa.Column("max_rss", sa.BigInteger(), nullable=True),
        sa.Column("max_pss", sa.BigInteger(), nullable=True),
        sa.Column("max_vmem", sa.BigInteger(), nullable=True),
        sa.Column("max_swap", sa.BigInteger(), nullable=True),
        sa.Column("avg_rss", sa.BigInteger(), nullable=True),
        sa.Column("avg_pss", sa.BigInteger(), nullable=True),
        sa.Column("actual_core_count", sa.Integer(), nullable=True),
        sa.Column("n_events", sa.BigInteger(), nullable=True),
        sa.Column("job_metrics", sa.String(length=500), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("panda_id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_creation", ["creation_time"], unique=False)
        batch_op.create_index(
            "ix_jobs_dispatch",
            ["computing_site", sa.literal_column("current_priority DESC"), "panda_id"],
            unique=False,
            sqlite_where=sa.text("job_status = 'activated'"),
            postgresql_where=sa.text("job_status = 'activated'"),
        )
        batch_op.create_index("ix_jobs_label_id", ["prod_source_label", "panda_id"], unique=False)
        batch_op.create_index("ix_jobs_parent", ["parent_id"], unique=False)
        batch_op.create_index("ix_jobs_site_id", ["computing_site", "panda_id"], unique=False)
        batch_op.create_index("ix_jobs_site_status", ["computing_site", "job_status"], unique=False)
        batch_op.create_index("ix_jobs_status_id", ["job_status", "panda_id"], unique=False)
        batch_op.create_index("ix_jobs_status_modtime", ["job_status", "modification_time"], unique=False)
        batch_op.create_index("ix_jobs_user_id", ["prod_user_name", "panda_id"], unique=False)

    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=128), server_default="", nullable=False),
        sa.Column("cores", sa.Integer(), server_default="1", nullable=False),
        sa.Column("max_memory_per_core", sa.Integer(), server_default="2000", nullable=False),
        sa.Column("max_walltime", sa.Integer(), server_default="86400", nullable=False),
        sa.Column("max_disk", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_running", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_queued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("storage_element", sa.String(length=128), server_default="", nullable=False),
        sa.Column("copy_tool", sa.String(length=32), server_default="cp", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_files",
        sa.Column(
            "row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("panda_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("lfn", sa.String(length=256), nullable=False),
        sa.Column("scope", sa.String(length=64), server_default="", nullable=False),
        sa.Column("dataset", sa.String(length=256), server_default="", nullable=False),
        sa.Column("guid", sa.String(length=64), server_default="", nullable=False),
        sa.Column("fsize", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("checksum", sa.String(length=64), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="", nullable=False),
        sa.Column("destination_se", sa.String(length=128), server_default="", nullable=False),
        sa.Column("surl", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["panda_id"],
            ["jobs.panda_id"],
        ),
        sa.PrimaryKeyConstraint("row_id"),
    )
    with op.batch_alter_table("job_files", schema=None) as batch_op:
        batch_op.create_index("ix_job_files_panda_id", ["panda_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("job_files", schema=None) as batch_op:
        batch_op.drop_index("ix_job_files_panda_id")

    op.drop_table("job_files")
    op.drop_table("queues")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_user_id")
        batch_op.drop_index("ix_jobs_status_modtime")
        batch_op.drop_index("ix_jobs_status_id")
        batch_op.drop_index("ix_jobs_site_status")
        batch_op.drop_index("ix_jobs_site_id")
        batch_op.drop_index("ix_jobs_parent")
        batch_op.drop_index("ix_jobs_label_id")
        batch_op.drop_index(
            "ix_jobs_dispatch",
            sqlite_where=sa.text("job_status = 'activated'"),
            postgresql_where=sa.text("job_status = 'activated'"),
        )
        batch_op.drop_index("ix_jobs_creation")

    op.drop_table("jobs")
    with op.batch_alter_table("job_status_history", schema=None) as batch_op:
        batch_op.drop_index("ix_job_status_history_time")
        batch_op.drop_index("ix_job_status_history_panda_id")

    op.drop_table("job_status_history")
    op.drop_table("brokerage_decisions")
