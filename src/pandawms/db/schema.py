"""Task-buffer schema (SQLAlchemy Core). Alembic migrations in db/migrations must match it (a test checks).

Tables
- ``jobs``: one row per job attempt (PandaID). Active and archived jobs share the table; the hot queries
  only touch active rows through partial/leading-status indexes, so finished history does not slow them.
- ``job_files``: input/output/log file rows of each attempt.
- ``job_status_history``: every status change (PanDA's jobs_StatusLog), written by services/lifecycle.py.
- ``brokerage_decisions``: the latest brokerage outcome per job (chosen queue, why each other was rejected).
- ``queues``: PanDA queues (computingSite) with status and limits; synced from the queue file or the API.
- ``workers``: pilot-factory workers (one pilot slot each) per factory (harvester_id) and queue; status
  changes only through services/lifecycle.py. ``ix_workers_queue_status`` serves the per-queue counts the
  factories' atomic sizing reads.
- ``harvesters``: one row per factory with its last call (heartbeat, add_workers, update_workers); the
  missed-worker watchdog ends the live workers of a factory silent for too long. ``ix_workers_request``
  (harvester_id, request_id) finds the workers of a repeated add_workers call.

Indexes (designed for 1M+ jobs; each hot query is an index range scan)
- ``ix_jobs_dispatch`` (computing_site, current_priority DESC, panda_id) WHERE job_status='activated':
  the dispatcher walks it in priority-then-age order for one queue and stops after LIMIT rows.
- ``ix_jobs_status_modtime`` (job_status, modification_time): watchdogs (lost heartbeat, sent/holding
  timeouts, expiry) scan ``job_status = :s AND modification_time < :cutoff``.
- ``ix_jobs_status_id``, ``ix_jobs_site_id``, ``ix_jobs_user_id``, ``ix_jobs_label_id``: filtered job
  listings with keyset pagination on panda_id.
- ``ix_jobs_site_status_modtime``, ``ix_jobs_user_status_modtime`` (queue or user, job_status,
  modification_time): per-queue load counts (brokerage, factory sizing) and the monitor's per-queue and
  per-user pages, which read the newest jobs of one queue/user per state in a time window (the rowid after
  modification_time keeps their (modification_time, panda_id) order, so no column may follow it).
- ``ix_jobs_creation``: time-window listings; ``ix_jobs_parent``: retry chains.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

_ERROR_COMPONENTS = ("pilot", "exe", "ddm", "jobdispatcher", "taskbuffer", "brokerage", "sup")


def _error_columns() -> list[Column[object]]:
    cols: list[Column[object]] = []
    for comp in _ERROR_COMPONENTS:
        cols.append(Column(f"{comp}_error_code", Integer, nullable=False, server_default="0"))
        cols.append(Column(f"{comp}_error_diag", String(500), nullable=False, server_default=""))
    return cols


jobs = Table(
    "jobs",
    metadata,
    Column("panda_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_name", String(256), nullable=False, server_default=""),
    Column("job_status", String(32), nullable=False),
    Column("job_sub_status", String(80), nullable=False, server_default=""),
    Column("command_to_pilot", String(250), nullable=False, server_default=""),
    Column("attempt_nr", Integer, nullable=False, server_default="1"),
    Column("max_attempt", Integer, nullable=False, server_default="3"),
    Column("parent_id", BigInteger, nullable=True),
    Column("relation_type", String(32), nullable=False, server_default=""),
    Column("task_id", BigInteger, nullable=True),
    Column("jobset_id", BigInteger, nullable=True),
    Column("prod_source_label", String(20), nullable=False),
    Column("prod_user_name", String(128), nullable=False, server_default=""),
    Column("current_priority", Integer, nullable=False, server_default="1000"),
    Column("computing_site", String(128), nullable=True),
    Column("relocation_flag", Integer, nullable=False, server_default="0"),
    Column("included_sites", Text, nullable=False, server_default=""),
    Column("excluded_sites", Text, nullable=False, server_default=""),
    Column("transformation", Text, nullable=False),
    Column("job_parameters", Text, nullable=False, server_default=""),
    Column("min_ram_count", Integer, nullable=False, server_default="0"),
    Column("core_count", Integer, nullable=False, server_default="1"),
    Column("max_walltime", Integer, nullable=False, server_default="0"),
    Column("max_disk_count", Integer, nullable=False, server_default="0"),
    Column("creation_time", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
    Column("state_change_time", DateTime, nullable=False),
    Column("start_time", DateTime, nullable=True),
    Column("end_time", DateTime, nullable=True),
    Column("modification_host", String(128), nullable=False, server_default=""),
    Column("pilot_id", String(200), nullable=False, server_default=""),
    Column("batch_id", String(80), nullable=False, server_default=""),
    Column("trans_exit_code", Integer, nullable=True),
    *_error_columns(),
    Column("cpu_consumption_time", BigInteger, nullable=True),
    Column("max_rss", BigInteger, nullable=True),
    Column("max_pss", BigInteger, nullable=True),
    Column("max_vmem", BigInteger, nullable=True),
    Column("max_swap", BigInteger, nullable=True),
    Column("avg_rss", BigInteger, nullable=True),
    Column("avg_pss", BigInteger, nullable=True),
    Column("actual_core_count", Integer, nullable=True),
    Column("n_events", BigInteger, nullable=True),
    Column("job_metrics", String(500), nullable=False, server_default=""),
)

Index(
    "ix_jobs_dispatch",
    jobs.c.computing_site,
    jobs.c.current_priority.desc(),
    jobs.c.panda_id,
    sqlite_where=text("job_status = 'activated'"),
    postgresql_where=text("job_status = 'activated'"),
)
Index("ix_jobs_status_modtime", jobs.c.job_status, jobs.c.modification_time)
Index("ix_jobs_status_id", jobs.c.job_status, jobs.c.panda_id)
Index("ix_jobs_site_id", jobs.c.computing_site, jobs.c.panda_id)
Index("ix_jobs_site_status_modtime", jobs.c.computing_site, jobs.c.job_status, jobs.c.modification_time)
Index("ix_jobs_user_id", jobs.c.prod_user_name, jobs.c.panda_id)
Index("ix_jobs_user_status_modtime", jobs.c.prod_user_name, jobs.c.job_status, jobs.c.modification_time)
Index("ix_jobs_label_id", jobs.c.prod_source_label, jobs.c.panda_id)
Index("ix_jobs_creation", jobs.c.creation_time)
Index("ix_jobs_parent", jobs.c.parent_id)

job_files = Table(
    "job_files",
    metadata,
    Column("row_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("panda_id", BigInteger, ForeignKey("jobs.panda_id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("lfn", String(256), nullable=False),
    Column("scope", String(64), nullable=False, server_default=""),
    Column("dataset", String(256), nullable=False, server_default=""),
    Column("guid", String(64), nullable=False, server_default=""),
    Column("fsize", BigInteger, nullable=False, server_default="0"),
    Column("checksum", String(64), nullable=False, server_default=""),
    Column("status", String(20), nullable=False, server_default=""),
    Column("destination_se", String(128), nullable=False, server_default=""),
    Column("surl", Text, nullable=False, server_default=""),
)
Index("ix_job_files_panda_id", job_files.c.panda_id)

job_status_history = Table(
    "job_status_history",
    metadata,
    Column("row_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("panda_id", BigInteger, nullable=False),
    Column("job_status", String(32), nullable=False),
    Column("previous_status", String(32), nullable=False, server_default=""),
    Column("change_time", DateTime, nullable=False),
    Column("modification_host", String(128), nullable=False, server_default=""),
    Column("reason", String(500), nullable=False, server_default=""),
)
Index("ix_job_status_history_panda_id", job_status_history.c.panda_id)
Index("ix_job_status_history_time", job_status_history.c.change_time)

brokerage_decisions = Table(
    "brokerage_decisions",
    metadata,
    Column("panda_id", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_time", DateTime, nullable=False),
    Column("chosen", String(128), nullable=True),
    Column("summary", Text, nullable=False, server_default=""),
    Column("rejected", Text, nullable=False, server_default="{}"),
)

queues = Table(
    "queues",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("site", String(128), nullable=False, server_default=""),
    Column("cores", Integer, nullable=False, server_default="1"),
    Column("max_memory_per_core", Integer, nullable=False, server_default="2000"),
    Column("max_walltime", Integer, nullable=False, server_default="86400"),
    Column("max_disk", Integer, nullable=False, server_default="0"),
    Column("max_running", Integer, nullable=False, server_default="0"),
    Column("max_queued", Integer, nullable=False, server_default="0"),
    Column("storage_element", String(128), nullable=False, server_default=""),
    Column("copy_tool", String(32), nullable=False, server_default="cp"),
    Column("description", Text, nullable=False, server_default=""),
    Column("modification_time", DateTime, nullable=False),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("harvester_id", String(64), nullable=False),
    Column("queue", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("batch_id", String(80), nullable=False, server_default=""),
    Column("exit_code", Integer, nullable=True),
    Column("diag", String(500), nullable=False, server_default=""),
    Column("panda_id", BigInteger, nullable=True),
    Column("submit_time", DateTime, nullable=False),
    Column("start_time", DateTime, nullable=True),
    Column("end_time", DateTime, nullable=True),
    Column("modification_time", DateTime, nullable=False),
    Column("request_id", String(64), nullable=True),
)
Index("ix_workers_queue_status", workers.c.queue, workers.c.status)
Index("ix_workers_request", workers.c.harvester_id, workers.c.request_id)
Index("ix_workers_status_modtime", workers.c.status, workers.c.modification_time)

# One row per factory: its last call. Workers of a factory silent for longer than the watchdog's
# factory_silence end as missed (services/workers.mark_missed). Few rows: no index beyond the key.
harvesters = Table(
    "harvesters",
    metadata,
    Column("harvester_id", String(64), primary_key=True),
    Column("host", String(128), nullable=False, server_default=""),
    Column("alive_workers", Integer, nullable=False, server_default="0"),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)
