"""Data catalog: scopes, dids, files, contents, rses, site_distances, replicas; queue ddm_input/ddm_output

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:27:22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contents",
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("child_scope", sa.String(length=25), nullable=False),
        sa.Column("child_name", sa.String(length=250), nullable=False),
        sa.Column("child_type", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name", "child_scope", "child_name"),
    )
    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.create_index("ix_contents_child", ["child_scope", "child_name"], unique=False)

    op.create_table(
        "dids",
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("did_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name"),
    )
    op.create_table(
        "files",
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("lfn", sa.String(length=250), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("adler32", sa.String(length=8), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "lfn"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ux_files_guid", ["guid"], unique=True)

    op.create_table(
        "replicas",
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("lfn", sa.String(length=250), nullable=False),
        sa.Column("rse", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "lfn", "rse"),
    )
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.create_index("ix_replicas_rse_status", ["rse", "status"], unique=False)

    op.create_table(
        "rses",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("availability_read", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("availability_write", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "scopes",
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("account", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "site_distances",
        sa.Column("source_site", sa.String(length=128), nullable=False),
        sa.Column("destination_site", sa.String(length=128), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source_site", "destination_site"),
    )
    # plain ADD COLUMN with a constant default: no rebuild of the queues table
    op.add_column("queues", sa.Column("ddm_input", sa.String(length=64), server_default="", nullable=False))
    op.add_column("queues", sa.Column("ddm_output", sa.String(length=64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("ddm_output")
        batch_op.drop_column("ddm_input")

    op.drop_table("site_distances")
    op.drop_table("scopes")
    op.drop_table("rses")
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.drop_index("ix_replicas_rse_status")

    op.drop_table("replicas")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ux_files_guid")

    op.drop_table("files")
    op.drop_table("dids")
    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.drop_index("ix_contents_child")

    op.drop_table("contents")
