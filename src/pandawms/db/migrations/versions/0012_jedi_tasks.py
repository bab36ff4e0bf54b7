"""JEDI tasks, task datasets and files; job processing_type, special_handling

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:16:11.229039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_commands",
        sa.Column(
            "command_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), server_default="{}", nullable=False),
        sa.Column("requested_by", sa.String(length=128), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default="", nullable=False),
        sa.Column("reason", sa.String(length=1000), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("command_id"),
    )
    with op.batch_alter_table("task_commands", schema=None) as batch_op:
        batch_op.create_index("ix_task_commands_pending", ["processed_at", "command_id"], unique=False)
        batch_op.create_index("ix_task_commands_task", ["task_id", "command_id"], unique=False)

    op.create_table(
        "task_datasets",
        sa.Column(
            "dataset_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("master_id", sa.BigInteger(), nullable=True),
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mutable", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("template", sa.String(length=512), server_default="", nullable=False),
        sa.Column("destination", sa.String(length=64), server_default="", nullable=False),
        sa.Column("next_serial", sa.Integer(), server_default="1", nullable=False),
        sa.Column("n_files", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_files_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_files_finished", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_files_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("n_events", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("n_events_used", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("creation_time", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    with op.batch_alter_table("task_datasets", schema=None) as batch_op:
        batch_op.create_index("ix_task_datasets_did", ["scope", "name"], unique=False)
        batch_op.create_index("ix_task_datasets_task", ["task_id", "dataset_id"], unique=False)

    op.create_table(
        "task_files",
        sa.Column(
            "file_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("lfn", sa.String(length=250), nullable=False),
        sa.Column("chunk", sa.Integer(), server_default="0", nullable=False),
        sa.Column("guid", sa.String(length=64), server_default="", nullable=False),
        sa.Column("fsize", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("checksum", sa.String(length=64), server_default="", nullable=False),
        sa.Column("n_events", sa.Integer(), server_default="0", nullable=False),
        sa.Column("start_event", sa.Integer(), nullable=True),
        sa.Column("end_event", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_nr", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempt", sa.Integer(), server_default="3", nullable=False),
        sa.Column("failed_attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_failure", sa.Integer(), nullable=True),
        sa.Column("ram_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_scout", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("panda_id", sa.BigInteger(), nullable=True),
        sa.Column("boundary", sa.String(length=64), server_default="", nullable=False),
        sa.Column("creation_time", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("file_id"),
    )
    with op.batch_alter_table("task_files", schema=None) as batch_op:
        batch_op.create_index("ix_task_files_panda", ["panda_id"], unique=False)
        batch_op.create_index("ix_task_files_status", ["dataset_id", "status", "file_id"], unique=False)
        batch_op.create_index("ix_task_files_status_modtime", ["status", "modification_time"], unique=False)
        batch_op.create_index("ux_task_files_file", ["dataset_id", "scope", "lfn", "chunk"], unique=True)

    op.create_table(
        "task_history",
        sa.Column(
            "row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("previous_status", sa.String(length=20), server_default="", nullable=False),
        sa.Column("change_time", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=1000), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("row_id"),
    )
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.create_index("ix_task_history_task", ["task_id", "row_id"], unique=False)

    op.create_table(
        "task_params",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_table(
        "tasks",
        sa.Column(
            "task_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_name", sa.String(length=256), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("vo", sa.String(length=32), server_default="atlas", nullable=False),
        sa.Column("prod_source_label", sa.String(length=20), nullable=False),
        sa.Column("working_group", sa.String(length=64), server_default="", nullable=False),
        sa.Column("task_type", sa.String(length=64), server_default="", nullable=False),
        sa.Column("processing_type", sa.String(length=64), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("old_status", sa.String(length=20), server_default="", nullable=False),
        sa.Column("error_dialog", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("task_priority", sa.Integer(), nullable=False),
        sa.Column("current_priority", sa.Integer(), nullable=False),
        sa.Column("global_share", sa.String(length=64), server_default="", nullable=False),
        sa.Column("transformation", sa.String(length=512), nullable=False),
        sa.Column("core_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("ram_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("base_ram_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("walltime", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cpu_time", sa.Float(), server_default="0", nullable=False),
        sa.Column("base_walltime", sa.Integer(), server_default="600", nullable=False),
        sa.Column("cpu_efficiency", sa.Integer(), server_default="90", nullable=False),
        sa.Column("out_disk_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("work_disk_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disk_io", sa.Integer(), server_default="0", nullable=False),
        sa.Column("split_rule", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("max_attempt", sa.Integer(), server_default="3", nullable=False),
        sa.Column("goal", sa.Integer(), server_default="1000", nullable=False),
        sa.Column("parent_task_id", sa.BigInteger(), nullable=True),
        sa.Column("included_sites", sa.Text(), server_default="", nullable=False),
        sa.Column("excluded_sites", sa.Text(), server_default="", nullable=False),
        sa.Column("scout_jobs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("lock_time", sa.DateTime(), nullable=True),
        sa.Column("creation_time", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.Column("state_change_time", sa.DateTime(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_name", ["vo", "prod_source_label", "user_name", "task_name"], unique=False
        )
        batch_op.create_index("ix_tasks_parent", ["parent_task_id"], unique=False)
        batch_op.create_index("ix_tasks_status_modtime", ["status", "modification_time"], unique=False)
        batch_op.create_index("ix_tasks_user_id", ["user_name", "task_id"], unique=False)

    # plain ADD COLUMN with constant defaults: no rebuild of a 1M-job table
    op.add_column(
        "jobs", sa.Column("processing_type", sa.String(length=64), server_default="", nullable=False)
    )
    op.add_column(
        "jobs", sa.Column("special_handling", sa.String(length=80), server_default="", nullable=False)
    )
    op.create_index("ix_jobs_task_id", "jobs", ["task_id", "panda_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_task_id")
        batch_op.drop_column("special_handling")
        batch_op.drop_column("processing_type")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_user_id")
        batch_op.drop_index("ix_tasks_status_modtime")
        batch_op.drop_index("ix_tasks_parent")
        batch_op.drop_index("ix_tasks_name")

    op.drop_table("tasks")
    op.drop_table("task_params")
    with op.batch_alter_table("task_history", schema=None) as batch_op:
        batch_op.drop_index("ix_task_history_task")

    op.drop_table("task_history")
    with op.batch_alter_table("task_files", schema=None) as batch_op:
        batch_op.drop_index("ux_task_files_file")
        batch_op.drop_index("ix_task_files_status_modtime")
        batch_op.drop_index("ix_task_files_status")
        batch_op.drop_index("ix_task_files_panda")

    op.drop_table("task_files")
    with op.batch_alter_table("task_datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_task_datasets_task")
        batch_op.drop_index("ix_task_datasets_did")

    op.drop_table("task_datasets")
    with op.batch_alter_table("task_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_task_commands_task")
        batch_op.drop_index("ix_task_commands_pending")

    op.drop_table("task_commands")
