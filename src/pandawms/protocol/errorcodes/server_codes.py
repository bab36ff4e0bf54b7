"""The server components' error codes (errors.md §1-§2), one member per code:
``ACRONYM = code, category, "description"``. Codes are never renumbered.
"""

from __future__ import annotations

from enum import unique

from pandawms.protocol.errorcodes.catalog import CatalogCode, ErrorCategory

_C = ErrorCategory


@unique
class JobDispatcherCode(CatalogCode):
    """Watcher and timeout codes (`jobDispatcherErrorCode`, errors.md §2)."""

    LOST_HEARTBEAT = 100, _C.TERMINATION, "lost heartbeat (Watcher)"
    RECOVERY_FAILED = 101, _C.INTERNAL, "recovery failed"
    SENT_TIMEOUT = 102, _C.INTERNAL, "sent without pilot reply within 30 min"
    HOLDING_TIMEOUT = 103, _C.FILE_STORAGE, "timeout in holding"
    TRANSFERRING_TIMEOUT = 104, _C.FILE_STORAGE, "timeout in transferring"
    OTHER_TIMEOUT = 105, _C.INTERNAL, "other timeout"


@unique
class DdmCode(CatalogCode):
    """Data-service codes set by the Setupper and the Adder (`ddmErrorCode`, errors.md §2)."""

    SETUPPER_FAILURE = 100, _C.FILE_STORAGE, "Setupper failure"
    GUID_PROBLEM = 101, _C.FILE_STORAGE, "GUID problem"
    ADDER_FAILURE = 200, _C.FILE_STORAGE, "Adder failure"
    SUBSCRIPTION_FAILURE = 201, _C.FILE_STORAGE, "subscription failure"
    LOCATION_REGISTRATION_FAILURE = 203, _C.FILE_STORAGE, "location registration failure"
    MISSING_NEVENTS = 204, _C.FILE_STORAGE, "missing nEvents"
    INCONSISTENT_GUID = 205, _C.FILE_STORAGE, "inconsistent GUID"
    WRONG_RSE_CONFIGURATION = 206, _C.FILE_STORAGE, "wrong RSE configuration"


@unique
class TaskBufferCode(CatalogCode):
    """Server and JEDI kill, retry and Event Service codes (`taskBufferErrorCode`, §2)."""

    KILLED = 100, _C.TERMINATION, "killed"
    TRANSFER_TIMEOUT = 101, _C.FILE_STORAGE, "transfer timeout"
    EXPIRED = 102, _C.TERMINATION, "expired"
    ABORTED = 103, _C.TERMINATION, "aborted"
    REASSIGNED = 105, _C.TERMINATION, "reassigned (rebrokerage)"
    SERVER_RETRY = 106, _C.TERMINATION, "server retry"
    PILOT_RETRY = 107, _C.TERMINATION, "pilot retry"
    ES_RETRIED = 111, _C.INTERNAL, "ES: retried (new consumer)"
    ES_MERGE_GENERATED = 112, _C.INTERNAL, "ES: merge job generated"
    MERGE_FAILED = 113, _C.INTERNAL, "merge failed"
    ES_MAX_ATTEMPTS = 114, _C.INTERNAL, "ES: max job attempts reached"
    ES_WAITING_FOR_OTHERS = 115, _C.INTERNAL, "ES: waiting for other consumers"
    ES_UNUSED_CONSUMER = 116, _C.INTERNAL, "ES: unused consumer"
    ES_NOTHING_PROCESSED = 117, _C.INTERNAL, "ES: consumer processed nothing"
    ES_LAST_NOTHING_PROCESSED = 118, _C.INTERNAL, "ES: consumer processed nothing (the last one)"
    ES_ALL_RANGES_FAILED = 119, _C.RUNTIME, "ES: all ranges failed"
    ES_KILL_OK = 120, _C.TERMINATION, "ES: kill OK"
    ES_KILL_NG = 121, _C.TERMINATION, "ES: kill NG"
    ES_PREEMPTION = 122, _C.TERMINATION, "ES: preemption"
    ES_NO_EVENT = 123, _C.INTERNAL, "ES: no event"
    ES_INPUT_INCONSISTENT = 124, _C.FILE_STORAGE, "ES: input inconsistent"
    NO_ES_QUEUES = 125, _C.INTERNAL, "no ES queues"
    CLOSED_BAD_STATUS = 126, _C.INTERNAL, "closed in bad status"
    FAST_REBROKERAGE = 130, _C.TERMINATION, "fast rebrokerage"
    CLONE_SEMAPHORE_LOST = 200, _C.TERMINATION, "job-cloning semaphore lost"
    WORKER_ENDED = 300, _C.TERMINATION, "factory worker ended before the job"


@unique
class SupCode(CatalogCode):
    """Supervisor codes (`supErrorCode`, errors.md §1)."""

    INVALID_BATCH_ID = 1, _C.INTERNAL, "invalid batch ID"
    WORKER_ALREADY_DONE = 2, _C.TERMINATION, "worker already done"


@unique
class BrokerageCode(CatalogCode):
    """pandawms: PanDA leaves brokerage codes unused; ours say why a job could not be placed."""

    NO_QUEUE = 1, _C.SOFTWARE, "no queue can run this job (its request exceeds every queue's limits)"
