"""Task-buffer schema (SQLAlchemy Core). Alembic migrations in db/migrations must match it (a test checks).

Tables
- ``jobs``: one row per job attempt (PandaID); its columns are declared in core/fields.JOB_FIELDS (plus the
  per-component error code/diag pairs), not here. Active and archived jobs share the table; the hot queries
  only touch active rows through partial/leading-status indexes, so finished history does not slow them.
- ``job_files``: input/output/log file rows of each attempt; ``ix_job_files_dataset`` (dataset) finds the
  jobs that read or wrote a dataset (the monitor's dataset page).
- ``job_reports``: the latest job report (the payload's metadata, JSON text) and pilot-log tail a pilot
  sent for a job (update_job ``meta_data``/``pilot_log``); shown by job/get_description and the monitor.
- ``job_status_history``: every status change (PanDA's jobs_StatusLog), written by services/lifecycle.py.
- ``job_stats``/``job_stats_daily`` and ``job_error_stats``/``job_error_stats_daily``: the monitor's hourly
  and daily aggregates of final jobs, kept by triggers on ``jobs`` through the insert-only ``*_delta``
  tables and folded by agents/job_stats.py (db/job_stats_fold.py; migration 0021). ``state`` there is a copy
  of the jobs' final status, never written as a status. ``job_stats_by_hour`` (hour, state) and
  ``job_error_stats_by_hour`` (hour, component, code) are the same folds with only those keys: the
  unfiltered charts' per-hour totals (migration 0022).
- ``brokerage_decisions``: the latest brokerage outcome per job (chosen queue, why each other was rejected).
- ``queues``: PanDA queues (computingSite) with status and limits; synced from the queue file or the API.
  ``ddm_input``/``ddm_output`` name the RSE the queue reads from / writes to (PanDA's SiteSpec names).
- ``workers``: pilot-factory workers (one pilot slot each) per factory (harvester_id) and queue; status
  changes only through services/lifecycle.py. ``ix_workers_queue_status`` serves the per-queue counts the
  factories' atomic sizing reads.
  ``batch_state`` is the worker's native state in its batch system (squeue's PENDING, RUNNING, a final
  TIMEOUT ...) as its factory last reported it (heartbeat, or the final report): an observation for the
  monitor, not a status, so any factory call may write it; ``ix_workers_queue_status`` serves its counts.
- ``harvesters``: one row per factory with its last call (heartbeat, add_workers, update_workers); the
  missed-worker watchdog ends the live workers of a factory silent for too long. ``ix_workers_request``
  (harvester_id, request_id) finds the workers of a repeated add_workers call.
- ``batch_errors``: the latest errors of each queue's batch system for the monitor: workers reported
  failed or missed (reason, exit code, native state) and the factory's failed batch commands (sbatch,
  squeue ...). Idempotent by (harvester_id, report_id) (``ux_batch_errors_report``: a re-sent report is
  stored once); at most BATCH_ERRORS_KEPT rows per queue, pruned on insert along ``ix_batch_errors_queue``
  (queue, error_id), which also serves the newest-first page read.
- ``acquire_requests``: the jobs an acquire_jobs call with a ``request_id`` claimed, keyed (claimant,
  request_id); the claimant is the pilot's worker id, else its pilot id and node. A repeat of that call (the
  pilot lost the answer) gets the same jobs back while they are still sent/starting to it
  (services/acquire_repeat.py). ``panda_ids`` is the comma-joined ids; ``ix_acquire_requests_time``
  (created_at) serves the cleaning agent, which drops rows older than the sent timeout.

Data catalog (Rucio's vocabulary; db/catalog.py, db/rses.py, db/replicas.py)
- ``scopes``: the namespaces of DIDs (``user.alice``, ``mc23``).
- ``dids``: datasets and containers (``did_type``), keyed (scope, name); ``status`` open/closed/frozen
  changes only through services/lifecycle_data.py. Listings page by keyset on (scope, name) = the key.
- ``files``: one row per file DID (scope, lfn) with guid (unique: ``ux_files_guid``), bytes, adler32, events.
- ``contents``: parent DID -> child DID (dataset -> file, container -> dataset), keyed (scope, name,
  child_scope, child_name): a dataset's files are one range of the key, listed by keyset on the child.
  ``ix_contents_child`` (child_scope, child_name) finds the parents of a file or dataset (delete checks).
- ``rses``: storage elements (name, site, URL prefix, kind, space, read/write availability); synced from
  the RSE file or the API. ``site_distances`` (source_site, destination_site) -> distance, from the same file.
- ``replicas``: file x RSE with ``status`` (available/copying/unavailable/bad, written only by
  services/lifecycle_data.py) and its path; keyed (scope, lfn, rse) so a file's replicas are one range.
  ``ix_replicas_rse_status`` (rse, status) serves per-RSE counts and "bad replicas at R" scans.

Transfer service (Rucio's rules and requests; db/transfers.py)
- ``rules``: a replication rule DID -> RSE with ``status`` replicating/ok/stuck (written only by
  services/lifecycle_data.py), activity, account, optional ``expires_at`` and per-file counters (files ok /
  replicating / stuck, as Rucio's locks_*_cnt). ``ix_rules_did`` (scope, name, rse) finds the rules of a
  DID and the rules covering a file (its own DID and its parents'); ``ix_rules_rse_status`` per-RSE lists;
  ``ix_rules_expires`` the rules whose lifetime ended (the expiry agent deletes them).
- ``transfers``: one request per (rule, file) (``ux_transfers_rule_file``) copying ``scope:lfn`` to
  ``dest_rse``; ``source_rse`` is chosen when it runs. ``status`` queued/submitted/done/failed (written
  only by services/lifecycle_data.py), attempt / max_attempts, ``next_attempt_at`` (the backoff; while
  submitted it is the lease's end, so an expired claim is runnable again), lease_owner + lease_until,
  bytes, method (third-party / streamed / present), started/finished times, last_error.
  ``ix_transfers_runnable`` (status, next_attempt_at) is the agent's claim scan ("queued or submitted,
  due by now" = two index ranges); ``ix_transfers_file_dest`` (scope, lfn, dest_rse) finds the active
  request of a file at an RSE (a second rule reuses it); ``ix_transfers_dest_status`` per-RSE summaries.

JEDI (tasks; db/tasks.py, db/task_files.py)
- ``tasks``: one row per task (jediTaskID): owner, label, priority, transformation, sizing (coreCount,
  ramCount MB per core, cpuTime HS06 s per event, outDiskCount bytes per event, ...) and the split rules in
  PanDA's code form (``split_rule``: ``NF=2,MF=200``). ``status`` changes only through
  services/lifecycle_tasks.py; ``old_status`` is what pending/paused return to. ``ix_tasks_status_modtime``
  serves the agents' scans (tasks in a state, oldest change first); ``ix_tasks_user_id`` per-user listings
  by keyset; ``ix_tasks_name`` the duplicate check (vo, label, user, name); ``ix_tasks_parent`` children.
- ``task_params``: the task-parameter JSON as submitted (PanDA's JEDI_TaskParams).
- ``task_history``: every task status change with its reason (``ix_task_history_task``).
- ``task_commands``: queued commands (kill, finish, retry, ...); ``processed_at`` NULL = pending
  (``ix_task_commands_pending``); ``outcome``/``reason`` when carried out or refused.
- ``task_datasets``: a task's input (master/secondary via ``master_id``), output, log and pre-merge
  datasets with their JEDI ``status``, ``mutable`` (a parent still produces it), the output name
  ``template`` and ``next_serial`` (``${SN}``), and file counters (the progress in files).
- ``task_files``: JEDI's contents: one row per input file (or event range of a file: ``chunk``,
  ``start_event``/``end_event``) or produced output, with ``status`` (core.tasks.TaskFileStatus, written only
  by services/lifecycle_tasks.py), attempt counters (attemptNr, maxAttempt, failedAttempt, maxFailure),
  ``ram_count`` after retries, ``is_scout`` and the ``panda_id`` of the job that uses or produced it.
  ``ux_task_files_file`` (dataset_id, scope, lfn, chunk) makes feeding idempotent; ``ix_task_files_status``
  (dataset_id, status, file_id) is the job generator's "ready files in order" scan; ``ix_task_files_panda``
  finds a job's rows when it ends; ``ix_task_files_status_modtime`` rescues rows stuck ``picked``.
- ``ix_jobs_task_id`` (task_id, panda_id): the jobs of a task.

Security (db/auth.py; issue 11)
- ``signing_keys``: the issuer's Ed25519 keys (kid, private and public JWK); the newest signs, every
  stored key verifies, so tokens signed before a rotation stay valid until they expire.
- ``refresh_tokens``: one row per refresh token issued (its SHA-256 only), with the identity it renews,
  ``family`` (the login it descends from), expiry, ``revoked_at`` and ``replaced_by`` (rotated on every
  use). ``ix_refresh_tokens_sub`` finds a subject's tokens to revoke them all when a revoked one is
  presented again.
- ``device_codes``: one row per device login (RFC 8628; services/device.py): the device code and the user
  code by SHA-256 only (``ux_device_codes_user`` looks the user code up), client, scope, ``state``
  pending/approved/denied/used, expiry, the polling ``interval`` (grown by slow_down) and the last poll;
  ``login_hash``/``code_verifier`` hold the state and PKCE verifier of the identity provider's login
  (``ix_device_codes_login`` finds the row on its callback); ``sub``/``identity`` the approved identity.
  ``ix_device_codes_expires`` prunes old rows.
- ``audit_log``: every state-changing call (who, route, ids, HTTP status) for admins;
  ``ix_audit_log_sub_time`` per-identity listings.

Scale-out (db/leases.py; issue 15)
- ``agent_leases``: one row per lease (``agents``: the periodic agents of all servers run in its holder
  only). ``holder`` (host:pid:nonce of the process), ``expires_at`` (the holder's clock + ttl), and
  ``version``, bumped by every write: a take-over or renewal is a compare-and-set on the version read,
  so of two contenders exactly one wins and a renewal racing a take-over loses or wins whole.

Indexes (designed for 1M+ jobs; each hot query is an index range scan)
- ``ix_jobs_dispatch`` (computing_site, current_priority DESC, panda_id) WHERE job_status='activated':
  the dispatcher walks it in priority-then-age order for one queue and stops after LIMIT rows.
- ``ix_jobs_dispatch_share`` (computing_site, gshare, current_priority DESC, panda_id) WHERE activated: the
  same walk inside one global share (the dispatcher serves the most under-served share first).
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

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.types import TypeEngine

from pandawms.core.fields import (
    ERROR_DIAG_LENGTH,
    JOB_FIELDS,
    JobField,
    Kind,
    error_code_column,
    error_diag_column,
)
from pandawms.core.specs import ErrorComponent

metadata = MetaData()

_SQL_TYPES: dict[Kind, Callable[[JobField], TypeEngine[Any]]] = {
    Kind.INT: lambda f: Integer(),
    Kind.BIGINT: lambda f: BigInteger(),
    Kind.STR: lambda f: String(f.length),
    Kind.TEXT: lambda f: Text(),
    Kind.DATETIME: lambda f: DateTime(),
}


def _job_column(f: JobField) -> Column[Any]:
    """A ``jobs`` column from its declaration in core/fields.JOB_FIELDS."""
    return Column(f.column, _SQL_TYPES[f.kind](f), nullable=f.nullable, server_default=f.default)


def _error_columns() -> list[Column[Any]]:
    cols: list[Column[Any]] = []
    for comp in ErrorComponent:
        cols.append(Column(error_code_column(comp), Integer, nullable=False, server_default="0"))
        cols.append(
            Column(error_diag_column(comp), String(ERROR_DIAG_LENGTH), nullable=False, server_default="")
        )
    return cols


jobs = Table(
    "jobs",
    metadata,
    Column("panda_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    *(_job_column(f) for f in JOB_FIELDS),
    *_error_columns(),
)

Index(
    "ix_jobs_dispatch",
    jobs.c.computing_site,
    jobs.c.current_priority.desc(),
    jobs.c.panda_id,
    sqlite_where=text("job_status = 'activated'"),
    postgresql_where=text("job_status = 'activated'"),
)
Index(
    "ix_jobs_dispatch_share",
    jobs.c.computing_site,
    jobs.c.gshare,
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
Index("ix_jobs_task_id", jobs.c.task_id, jobs.c.panda_id)

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
Index("ix_job_files_dataset", job_files.c.dataset)

job_reports = Table(
    "job_reports",
    metadata,
    Column("panda_id", BigInteger, primary_key=True, autoincrement=False),
    Column("meta_data", Text, nullable=False, server_default=""),
    Column("pilot_log", Text, nullable=False, server_default=""),
    Column("modification_time", DateTime, nullable=False),
)

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

# -- the monitor's hourly aggregates of final jobs (db/job_stats.py; kept by triggers, migration 0021) -----

STATS_WALL = tuple(f"w{i}" for i in range(11))  # walltime histogram (monitor/summaries.WALLTIME_EDGES)
STATS_MEM = tuple(f"m{i}" for i in range(11))  # max PSS per core histogram (summaries.MEMORY_EDGES)


def _stats_key(time: str = "hour") -> list[Column[Any]]:
    return [
        Column(time, BigInteger, nullable=False),  # epoch seconds of the hour (day) of modification_time
        Column("computing_site", String(128), nullable=False),  # '' for none
        Column("prod_user_name", String(128), nullable=False),
        Column("prod_source_label", String(20), nullable=False),
    ]


def _stats_values() -> list[Column[Any]]:
    return [
        Column("state", String(32), nullable=False),  # the jobs' final status (a copy: not written here)
        Column("attempt_nr", Integer, nullable=False),
        Column("jobs", BigInteger, nullable=False),
        Column("cpu_seconds", BigInteger, nullable=False),
        *(Column(name, BigInteger, nullable=False) for name in STATS_WALL + STATS_MEM),
    ]


def _error_stats_values() -> list[Column[Any]]:
    return [
        Column("component", String(16), nullable=False),
        Column("code", Integer, nullable=False),
        Column("jobs", BigInteger, nullable=False),
        Column("latest", BigInteger, nullable=False),  # epoch seconds of the latest occurrence
        Column("sample_panda_id", BigInteger, nullable=False),  # the job of that occurrence
    ]


def _delta_id() -> Column[Any]:
    return Column(
        "row_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


_KEY = ("hour", "computing_site", "prod_user_name", "prod_source_label")
job_stats = Table(
    "job_stats",
    metadata,
    *_stats_key(),
    *_stats_values(),
    PrimaryKeyConstraint(*_KEY, "state", "attempt_nr"),
)
# the charts' per-hour totals of the whole history (unfiltered pages), a few rows an hour (migration 0022)
job_stats_by_hour = Table(
    "job_stats_by_hour",
    metadata,
    Column("hour", BigInteger, nullable=False),
    Column("state", String(32), nullable=False),
    Column("jobs", BigInteger, nullable=False),
    PrimaryKeyConstraint("hour", "state"),
)
job_stats_daily = Table(
    "job_stats_daily",
    metadata,
    *_stats_key("day"),
    *_stats_values(),
    PrimaryKeyConstraint("day", *_KEY[1:], "state", "attempt_nr"),
)
job_stats_delta = Table("job_stats_delta", metadata, _delta_id(), *_stats_key(), *_stats_values())
job_error_stats = Table(
    "job_error_stats",
    metadata,
    *_stats_key(),
    *_error_stats_values(),
    PrimaryKeyConstraint(*_KEY, "component", "code"),
)
job_error_stats_by_hour = Table(
    "job_error_stats_by_hour",
    metadata,
    Column("hour", BigInteger, nullable=False),
    Column("component", String(16), nullable=False),
    Column("code", Integer, nullable=False),
    Column("jobs", BigInteger, nullable=False),
    PrimaryKeyConstraint("hour", "component", "code"),
)
job_error_stats_daily = Table(
    "job_error_stats_daily",
    metadata,
    *_stats_key("day"),
    *_error_stats_values(),
    PrimaryKeyConstraint("day", *_KEY[1:], "component", "code"),
)
job_error_stats_delta = Table(
    "job_error_stats_delta", metadata, _delta_id(), *_stats_key(), *_error_stats_values()
)

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
    Column("ddm_input", String(64), nullable=False, server_default=""),
    Column("ddm_output", String(64), nullable=False, server_default=""),
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
    Column("batch_state", String(32), nullable=True),
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

acquire_requests = Table(
    "acquire_requests",
    metadata,
    Column("claimant", String(340), primary_key=True),
    Column("request_id", String(64), primary_key=True),
    Column("queue", String(128), nullable=False),
    Column("panda_ids", Text, nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_acquire_requests_time", acquire_requests.c.created_at)

batch_errors = Table(
    "batch_errors",
    metadata,
    Column("error_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("harvester_id", String(64), nullable=False),
    Column("report_id", String(64), nullable=False),  # the factory's id of it; "worker:<id>" for a worker
    Column("queue", String(128), nullable=False),
    Column("time", DateTime, nullable=False),
    Column("worker_id", BigInteger, nullable=True),
    Column("batch_id", String(80), nullable=False, server_default=""),
    Column("batch_state", String(32), nullable=False, server_default=""),
    Column("exit_code", Integer, nullable=True),
    Column("reason", String(500), nullable=False, server_default=""),
)
Index("ux_batch_errors_report", batch_errors.c.harvester_id, batch_errors.c.report_id, unique=True)
Index("ix_batch_errors_queue", batch_errors.c.queue, batch_errors.c.error_id)
BATCH_ERRORS_KEPT = 100  # per queue

# -- data catalog ------------------------------------------------------------------------------------

scopes = Table(
    "scopes",
    metadata,
    Column("scope", String(25), primary_key=True),
    Column("account", String(128), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
)

dids = Table(
    "dids",
    metadata,
    Column("scope", String(25), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("did_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("scope", String(25), primary_key=True),
    Column("lfn", String(250), primary_key=True),
    Column("guid", String(36), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("adler32", String(8), nullable=False),
    Column("events", BigInteger, nullable=True),
    Column("created_at", DateTime, nullable=False),
)
Index("ux_files_guid", files.c.guid, unique=True)

contents = Table(
    "contents",
    metadata,
    Column("scope", String(25), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("child_scope", String(25), primary_key=True),
    Column("child_name", String(250), primary_key=True),
    Column("child_type", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_contents_child", contents.c.child_scope, contents.c.child_name)

rses = Table(
    "rses",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("site", String(128), nullable=False),
    Column("prefix", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("total_bytes", BigInteger, nullable=False, server_default="0"),
    Column("used_bytes", BigInteger, nullable=False, server_default="0"),
    Column("availability_read", Boolean, nullable=False, server_default=true()),
    Column("availability_write", Boolean, nullable=False, server_default=true()),
    Column("modification_time", DateTime, nullable=False),
)

site_distances = Table(
    "site_distances",
    metadata,
    Column("source_site", String(128), primary_key=True),
    Column("destination_site", String(128), primary_key=True),
    Column("distance", Integer, nullable=False),
)

replicas = Table(
    "replicas",
    metadata,
    Column("scope", String(25), primary_key=True),
    Column("lfn", String(250), primary_key=True),
    Column("rse", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("path", Text, nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)
Index("ix_replicas_rse_status", replicas.c.rse, replicas.c.status)

# -- transfer service --------------------------------------------------------------------------------

rules = Table(
    "rules",
    metadata,
    Column("rule_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("scope", String(25), nullable=False),
    Column("name", String(250), nullable=False),
    Column("rse", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("activity", String(64), nullable=False, server_default="User Subscriptions"),
    Column("account", String(128), nullable=False, server_default=""),
    Column("expires_at", DateTime, nullable=True),
    Column("files_ok", Integer, nullable=False, server_default="0"),
    Column("files_replicating", Integer, nullable=False, server_default="0"),
    Column("files_stuck", Integer, nullable=False, server_default="0"),
    Column("error", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)
Index("ix_rules_did", rules.c.scope, rules.c.name, rules.c.rse)
Index("ix_rules_rse_status", rules.c.rse, rules.c.status)
Index("ix_rules_expires", rules.c.expires_at)

transfers = Table(
    "transfers",
    metadata,
    Column("request_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("rule_id", BigInteger, nullable=False),
    Column("scope", String(25), nullable=False),
    Column("lfn", String(250), nullable=False),
    Column("source_rse", String(64), nullable=False, server_default=""),
    Column("dest_rse", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_owner", String(128), nullable=False, server_default=""),
    Column("lease_until", DateTime, nullable=True),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("method", String(16), nullable=False, server_default=""),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    Column("last_error", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)
Index("ix_transfers_runnable", transfers.c.status, transfers.c.next_attempt_at)
Index("ux_transfers_rule_file", transfers.c.rule_id, transfers.c.scope, transfers.c.lfn, unique=True)
Index("ix_transfers_file_dest", transfers.c.scope, transfers.c.lfn, transfers.c.dest_rse)
Index("ix_transfers_dest_status", transfers.c.dest_rse, transfers.c.status)

# -- JEDI: tasks, their datasets and files -------------------------------------------------------------

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_name", String(256), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("owner_sub", String(128), nullable=False, server_default=""),  # the submitter's token sub
    Column("vo", String(32), nullable=False, server_default="atlas"),
    Column("prod_source_label", String(20), nullable=False),
    Column("working_group", String(64), nullable=False, server_default=""),
    Column("task_type", String(64), nullable=False, server_default=""),
    Column("processing_type", String(64), nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("old_status", String(20), nullable=False, server_default=""),
    Column("error_dialog", String(1000), nullable=False, server_default=""),
    Column("task_priority", Integer, nullable=False),
    Column("current_priority", Integer, nullable=False),
    Column("global_share", String(64), nullable=False, server_default=""),
    Column("transformation", String(512), nullable=False),
    Column("core_count", Integer, nullable=False, server_default="1"),
    Column("ram_count", Integer, nullable=False, server_default="0"),
    Column("base_ram_count", Integer, nullable=False, server_default="0"),
    Column("walltime", Integer, nullable=False, server_default="0"),
    Column("cpu_time", Float, nullable=False, server_default="0"),
    Column("base_walltime", Integer, nullable=False, server_default="600"),
    Column("cpu_efficiency", Integer, nullable=False, server_default="90"),
    Column("out_disk_count", BigInteger, nullable=False, server_default="0"),
    Column("work_disk_count", BigInteger, nullable=False, server_default="0"),
    Column("disk_io", Integer, nullable=False, server_default="0"),
    Column("split_rule", String(2000), nullable=False, server_default=""),
    Column("max_attempt", Integer, nullable=False, server_default="3"),
    Column("goal", Integer, nullable=False, server_default="1000"),
    Column("parent_task_id", BigInteger, nullable=True),
    Column("included_sites", Text, nullable=False, server_default=""),
    Column("excluded_sites", Text, nullable=False, server_default=""),
    Column("scout_jobs", Integer, nullable=False, server_default="0"),
    Column("locked_by", String(64), nullable=False, server_default=""),
    Column("lock_time", DateTime, nullable=True),
    Column("creation_time", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
    Column("state_change_time", DateTime, nullable=False),
    Column("start_time", DateTime, nullable=True),
    Column("end_time", DateTime, nullable=True),
)
Index("ix_tasks_status_modtime", tasks.c.status, tasks.c.modification_time)
Index("ix_tasks_user_id", tasks.c.user_name, tasks.c.task_id)
Index("ix_tasks_parent", tasks.c.parent_task_id)
Index("ix_tasks_name", tasks.c.vo, tasks.c.prod_source_label, tasks.c.user_name, tasks.c.task_name)

task_params = Table(
    "task_params",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("params", Text, nullable=False),
)

task_history = Table(
    "task_history",
    metadata,
    Column("row_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("previous_status", String(20), nullable=False, server_default=""),
    Column("change_time", DateTime, nullable=False),
    Column("reason", String(1000), nullable=False, server_default=""),
)
Index("ix_task_history_task", task_history.c.task_id, task_history.c.row_id)

task_commands = Table(
    "task_commands",
    metadata,
    Column("command_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("command", String(32), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("requested_by", String(128), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
    Column("processed_at", DateTime, nullable=True),
    Column("outcome", String(16), nullable=False, server_default=""),
    Column("reason", String(1000), nullable=False, server_default=""),
)
Index("ix_task_commands_pending", task_commands.c.processed_at, task_commands.c.command_id)
Index("ix_task_commands_task", task_commands.c.task_id, task_commands.c.command_id)

task_datasets = Table(
    "task_datasets",
    metadata,
    Column("dataset_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("type", String(20), nullable=False),
    Column("master_id", BigInteger, nullable=True),
    Column("scope", String(25), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(20), nullable=False),
    Column("mutable", Boolean, nullable=False, server_default=true()),
    Column("template", String(512), nullable=False, server_default=""),
    Column("destination", String(64), nullable=False, server_default=""),
    Column("next_serial", Integer, nullable=False, server_default="1"),
    Column("n_files", Integer, nullable=False, server_default="0"),
    Column("n_files_used", Integer, nullable=False, server_default="0"),
    Column("n_files_finished", Integer, nullable=False, server_default="0"),
    Column("n_files_failed", Integer, nullable=False, server_default="0"),
    Column("n_events", BigInteger, nullable=False, server_default="0"),
    Column("n_events_used", BigInteger, nullable=False, server_default="0"),
    Column("creation_time", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)
Index("ix_task_datasets_task", task_datasets.c.task_id, task_datasets.c.dataset_id)
Index("ix_task_datasets_did", task_datasets.c.scope, task_datasets.c.name)

task_files = Table(
    "task_files",
    metadata,
    Column("file_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("dataset_id", BigInteger, nullable=False),
    Column("scope", String(25), nullable=False),
    Column("lfn", String(250), nullable=False),
    Column("chunk", Integer, nullable=False, server_default="0"),
    Column("guid", String(64), nullable=False, server_default=""),
    Column("fsize", BigInteger, nullable=False, server_default="0"),
    Column("checksum", String(64), nullable=False, server_default=""),
    Column("n_events", Integer, nullable=False, server_default="0"),
    Column("start_event", Integer, nullable=True),
    Column("end_event", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempt_nr", Integer, nullable=False, server_default="0"),
    Column("max_attempt", Integer, nullable=False, server_default="3"),
    Column("failed_attempt", Integer, nullable=False, server_default="0"),
    Column("max_failure", Integer, nullable=True),
    Column("ram_count", Integer, nullable=False, server_default="0"),
    Column("is_scout", Boolean, nullable=False, server_default=false()),
    Column("panda_id", BigInteger, nullable=True),
    Column("boundary", String(64), nullable=False, server_default=""),
    Column("creation_time", DateTime, nullable=False),
    Column("modification_time", DateTime, nullable=False),
)
Index(
    "ux_task_files_file",
    task_files.c.dataset_id,
    task_files.c.scope,
    task_files.c.lfn,
    task_files.c.chunk,
    unique=True,
)
Index("ix_task_files_status", task_files.c.dataset_id, task_files.c.status, task_files.c.file_id)
Index("ix_task_files_panda", task_files.c.panda_id)
Index("ix_task_files_status_modtime", task_files.c.status, task_files.c.modification_time)

# -- security (issue 11) ------------------------------------------------------------------------------

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_jwk", Text, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family", String(64), nullable=False),
    Column("sub", String(128), nullable=False),
    Column("identity", Text, nullable=False),  # JSON: name, vo, groups, roles, queue
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("replaced_by", String(64), nullable=True),
)
Index("ix_refresh_tokens_sub", refresh_tokens.c.sub)

device_codes = Table(
    "device_codes",
    metadata,
    Column("device_hash", String(64), primary_key=True),
    Column("user_hash", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("scope", String(256), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("interval", Integer, nullable=False),
    Column("last_polled_at", DateTime, nullable=True),
    Column("login_hash", String(64), nullable=True),
    Column("code_verifier", String(128), nullable=True),
    Column("sub", String(128), nullable=True),
    Column("identity", Text, nullable=True),  # JSON as refresh_tokens.identity
)
Index("ux_device_codes_user", device_codes.c.user_hash, unique=True)
Index("ix_device_codes_login", device_codes.c.login_hash)
Index("ix_device_codes_expires", device_codes.c.expires_at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False),
    Column("sub", String(128), nullable=False),
    Column("roles", String(128), nullable=False, server_default=""),
    Column("method", String(8), nullable=False),
    Column("path", String(128), nullable=False),
    Column("ids", Text, nullable=False, server_default=""),
    Column("status_code", Integer, nullable=False),
)
Index("ix_audit_log_sub_time", audit_log.c.sub, audit_log.c.time)

agent_leases = Table(
    "agent_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("version", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("renewed_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)
