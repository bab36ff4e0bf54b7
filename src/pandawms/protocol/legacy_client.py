"""panda-client's wire (PanDA's api/v1 as pandaclient/Client.py 2.2.0 speaks it), translated to ours.

panda-client sends JSON bodies (POST) or query strings (GET, every value a string) with ``Accept:
application/json`` and reads ``{"success", "message", "data"}``. Its shapes differ from pandawms's own on
some shared paths: ``job/submit`` carries ``{"jobs": "<JSON text>"}`` whose jobs are JobSpec *value
lists* in JobSpec._attributes order with the FileSpec value lists last; task commands carry ``task_id``
and answer PanDA's return code as ``data``; ``task/get_status`` answers the bare status string.
This module holds the attribute orders, the request models and the pure translations both ways; the
detection and routes are server/compat_client.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import FileCounts, TaskStatus
from pandawms.core.taskspecs import Task
from pandawms.protocol.bounds import BIGINT_MAX, MAX_QUERY_IDS, Id
from pandawms.protocol.jobs import JobRecord, JobSubmission
from pandawms.protocol.tasks import LogTemplate, MergeSpec, ParamItem, TaskParams

# PanDA's JobSpec._attributes and FileSpec._attributes (panda-server taskbuffer, panda-client 2.2.0):
# a job travels as these values in this order, then the list of its files' value lists.
JOB_ATTRIBUTES: tuple[str, ...] = tuple(
    """PandaID jobDefinitionID schedulerID pilotID creationTime creationHost modificationTime
    modificationHost AtlasRelease transformation homepackage prodSeriesLabel prodSourceLabel prodUserID
    assignedPriority currentPriority attemptNr maxAttempt jobStatus jobName maxCpuCount maxCpuUnit
    maxDiskCount maxDiskUnit ipConnectivity minRamCount minRamUnit startTime endTime cpuConsumptionTime
    cpuConsumptionUnit commandToPilot transExitCode pilotErrorCode pilotErrorDiag exeErrorCode exeErrorDiag
    supErrorCode supErrorDiag ddmErrorCode ddmErrorDiag brokerageErrorCode brokerageErrorDiag
    jobDispatcherErrorCode jobDispatcherErrorDiag taskBufferErrorCode taskBufferErrorDiag computingSite
    computingElement jobParameters metadata prodDBlock dispatchDBlock destinationDBlock destinationSE
    nEvents grid cloud cpuConversion sourceSite destinationSite transferType taskID cmtConfig
    stateChangeTime prodDBUpdateTime lockedby relocationFlag jobExecutionID VO pilotTiming workingGroup
    processingType prodUserName nInputFiles countryGroup batchID parentID specialHandling jobsetID
    coreCount nInputDataFiles inputFileType inputFileProject inputFileBytes nOutputDataFiles
    outputFileBytes jobMetrics workQueue_ID jediTaskID jobSubStatus actualCoreCount reqID maxRSS maxVMEM
    maxSWAP maxPSS avgRSS avgVMEM avgSWAP avgPSS maxWalltime nucleus eventService failedAttempt hs06sec
    gshare hs06 totRCHAR totWCHAR totRBYTES totWBYTES rateRCHAR rateWCHAR rateRBYTES rateWBYTES
    resource_type diskIO memory_leak memory_leak_x2 container_name job_label gco2_regional gco2_global
    cpu_architecture_level outputFileType""".split()  # noqa: SIM905 (a table, one word each)
)
FILE_ATTRIBUTES: tuple[str, ...] = tuple(
    """rowID PandaID GUID lfn type dataset status prodDBlock prodDBlockToken dispatchDBlock
    dispatchDBlockToken destinationDBlock destinationDBlockToken destinationSE fsize md5sum checksum
    scope""".split()  # noqa: SIM905
)
NULL = "NULL"  # PanDA's JobSpec/FileSpec answer None as this string, and so send it
MAX_JOBS = 5000  # panda-server's job/submit cap
MIN_JOB_VALUES = JOB_ATTRIBUTES.index("jobName") + 1  # older clients send fewer (schema evolution)

# the legacy job attributes that have a pandawms submission field (the rest: PanDA-only, ignored)
SUBMITTED = (
    "transformation",
    "jobName",
    "jobParameters",
    "prodSourceLabel",
    "prodUserName",
    "currentPriority",
    "computingSite",
    "minRamCount",
    "coreCount",
    "maxWalltime",
    "maxDiskCount",
    "maxAttempt",
    "taskID",
    "jobsetID",
    "destinationSE",
    "processingType",
    "specialHandling",
)
_INTS = {"currentPriority", "minRamCount", "coreCount", "maxWalltime", "maxDiskCount", "maxAttempt",
         "taskID", "jobsetID"}  # fmt: skip
_FILE_TYPES = {"input", "output", "log"}

# paths panda-client calls that pandawms's own API does not have (under /api/v1)
JOB_GET_DESCRIPTION_INCL_ARCHIVE = "/job/get_description_incl_archive"
JOB_GET_METADATA = "/job/get_metadata_for_analysis_jobs"
TASK_DETAILED_INFO_SINCE = "/task/get_tasks_detailed_info_since"
FILE_UPLOAD_CACHE = "/file_server/upload_cache_file"
CACHE_PATH = "/cache"  # the sandbox at the server root, as PanDA's web server serves it
# where a panda-client request on a path pandawms shares is routed instead (never in the schema)
SHAPE_PREFIX = "/panda_client"
CACHE_NAME = r"^[A-Za-z0-9_.+\-]{1,200}$"
MAX_SANDBOX = 64 * 1024 * 1024  # the server's decoded-body limit (PanDA allows 768 MB on its cache)


class JobIdsRequest(BaseModel):
    """job/get_description(_incl_archive): ``{"job_ids": [...]}`` (POST, as panda-client sends it)."""

    model_config = ConfigDict(extra="ignore")
    job_ids: list[Id] = Field(min_length=1, max_length=MAX_QUERY_IDS)


class LegacyJobSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: str = Field(min_length=2, description="JSON text: a list of JobSpec value lists")


class LegacyTaskSubmit(BaseModel):
    """task/submit: the prun/pathena parameter map (a JSON object, or its JSON text) and the parent."""

    model_config = ConfigDict(extra="forbid")
    task_parameters: dict[str, Any] | str
    parent_tid: int | None = Field(None, ge=1, le=BIGINT_MAX)


class LegacyTaskCommand(BaseModel):
    """task/kill, finish, retry, pause, resume ... as panda-client sends them."""

    model_config = ConfigDict(extra="forbid")
    task_id: Id
    soft: bool = False
    broadcast: bool = False
    new_parameters: dict[str, Any] | str | None = None
    site: str | None = Field(None, max_length=128)


def _value(v: object) -> object:
    return None if v == NULL else v


def _job_field(name: str, v: object, where: str) -> object:
    v = _value(v)
    if v is None:
        return None
    if name in _INTS:
        if isinstance(v, str) and re.fullmatch(r"-?\d{1,18}", v.strip()):
            return int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInput(f"{where}.{name}: expected an integer, got {v!r}", f"{where}.{name}")
    elif not isinstance(v, str):
        raise InvalidInput(f"{where}.{name}: expected text, got {v!r}", f"{where}.{name}")
    return v


def _file(values: object, where: str) -> dict[str, object]:
    if not isinstance(values, list) or len(values) < FILE_ATTRIBUTES.index("lfn") + 1:
        raise InvalidInput(f"{where}: expected a FileSpec value list", where)
    f = {k: _value(v) for k, v in zip(FILE_ATTRIBUTES, values, strict=False)}
    kind = f.get("type")
    if kind not in _FILE_TYPES:
        raise InvalidInput(f"{where}.type: {kind!r} is not one of input, output, log", f"{where}.type")
    out: dict[str, object] = {"lfn": f.get("lfn"), "type": kind}
    for key, ours in (("scope", "scope"), ("dataset", "dataset"), ("GUID", "GUID"), ("checksum", "checksum")):
        if isinstance(f.get(key), str):
            out[ours] = f[key]
    size = f.get("fsize")
    if size is not None:
        out["fsize"] = int(size) if isinstance(size, str) and size.isdigit() else size
    return out


def _job(values: object, index: int) -> dict[str, object]:
    where = f"jobs[{index}]"
    if not isinstance(values, list) or len(values) < MIN_JOB_VALUES + 1:
        raise InvalidInput(f"{where}: expected a JobSpec value list (attributes, then files)", where)
    attrs = dict(zip(JOB_ATTRIBUTES, values[:-1], strict=False))
    files = values[-1]
    if not isinstance(files, list):
        raise InvalidInput(f"{where}: the last value must be the list of files", where)
    job: dict[str, object] = {}
    for name in SUBMITTED:
        v = _job_field(name, attrs.get(name), where)
        if v is not None:
            job[name] = v
    job["files"] = [_file(f, f"{where}.Files[{i}]") for i, f in enumerate(files)]
    return job


def _definition_id(values: object) -> int:
    v = values[1] if isinstance(values, list) and len(values) > 1 else None
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def parse_jobs(text: str) -> tuple[list[JobSubmission], list[int]]:
    """The submissions in panda-client's ``jobs`` text and each job's jobDefinitionID (0 when NULL).

    Attributes pandawms does not keep (cloud, AtlasRelease, cmtConfig, ...) are ignored; a value of the
    wrong type or a missing transformation is InvalidInput naming ``jobs[i].<attribute>``."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"jobs: not valid JSON text ({exc})", "jobs") from None
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("jobs: expected a non-empty list of JobSpec value lists", "jobs")
    if len(raw) > MAX_JOBS:
        raise InvalidInput(f"jobs: at most {MAX_JOBS} jobs per call, got {len(raw)}", "jobs")
    out: list[JobSubmission] = []
    for i, values in enumerate(raw):
        try:
            out.append(JobSubmission.model_validate(_job(values, i)))
        except ValidationError as exc:
            problems = "; ".join(
                f"jobs[{i}].{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInput(problems, f"jobs[{i}]") from None
    return out, [_definition_id(v) for v in raw]


def encode_time(t: datetime | None) -> dict[str, str] | None:
    """Times as panda-client's decoder (Client.decode_special_cases) turns them back into datetimes."""
    return None if t is None else {"__datetime__": t.replace(tzinfo=None).isoformat()}


_ERROR_ATTRS = {
    "pilot": "pilotError",
    "exe": "exeError",
    "ddm": "ddmError",
    "jobdispatcher": "jobDispatcherError",
    "taskbuffer": "taskBufferError",
    "brokerage": "brokerageError",
    "sup": "supError",
}
_TIMES = ("creationTime", "modificationTime", "stateChangeTime", "startTime", "endTime")


def job_spec_dict(record: JobRecord, meta_data: str = "") -> dict[str, object]:
    """A job as PanDA's JobSpec dict (every attribute named, None where pandawms has no value) with
    ``Files`` as FileSpec dicts: what MiscUtils.load_jobs rebuilds JobSpecs from."""
    ours = record.model_dump(by_alias=True, mode="python")
    out: dict[str, object] = {a: None for a in JOB_ATTRIBUTES}
    for a in JOB_ATTRIBUTES:
        if a in ours and a not in _TIMES and not isinstance(ours[a], list | dict):
            out[a] = ours[a]
    for a in _TIMES:
        out[a] = encode_time(ours.get(a))
    for err in record.errors:
        prefix = _ERROR_ATTRS.get(err.component)
        if prefix is not None:
            out[prefix + "Code"], out[prefix + "Diag"] = err.code, err.diag
    out["jediTaskID"] = record.task_id
    out["metadata"] = meta_data or None
    out["Files"] = [
        {
            **{a: None for a in FILE_ATTRIBUTES},
            "PandaID": record.panda_id,
            "GUID": f.guid,
            "lfn": f.lfn,
            "type": f.type,
            "dataset": f.dataset,
            "status": f.status,
            "destinationDBlock": record.destination_dblock or None,
            "destinationSE": f.destination_se or None,
            "fsize": f.fsize,
            "checksum": f.checksum,
            "scope": f.scope,
        }
        for f in record.files
    ]
    return out


# JEDI's superstatus of each task status (what pbook's show filters and colours by)
SUPER_STATUS: dict[TaskStatus, str] = {
    **{s: "registered" for s in (TaskStatus.REGISTERED, TaskStatus.DEFINED)},
    TaskStatus.READY: "ready",
    **{
        s: "running"
        for s in (
            TaskStatus.SCOUTING,
            TaskStatus.SCOUTED,
            TaskStatus.RUNNING,
            TaskStatus.PREPARED,
            TaskStatus.PENDING,
            TaskStatus.EXHAUSTED,
            TaskStatus.PAUSED,
            TaskStatus.TORETRY,
            TaskStatus.TOREASSIGN,
        )
    },
    **{s: "submitting" for s in (TaskStatus.TOBROKEN, TaskStatus.ABORTING, TaskStatus.FINISHING)},
    TaskStatus.PASSED: "finished",
    **{s: s.value for s in (TaskStatus.DONE, TaskStatus.FINISHED, TaskStatus.FAILED, TaskStatus.BROKEN)},
    TaskStatus.ABORTED: "aborted",
}
FILTER_KEYS = ("jediTaskID", "reqID", "status", "superStatus", "userName", "taskName")


def statuses_of(filters: Mapping[str, str]) -> tuple[TaskStatus, ...]:
    """The task statuses a ``status``/``superStatus`` filter selects (``|`` ORs values, as PanDA)."""
    wanted: set[TaskStatus] = set()
    for key in ("status", "superStatus"):
        for v in filter(None, filters.get(key, "").split("|")):
            hits = [s for s in TaskStatus if (s.value if key == "status" else SUPER_STATUS[s]) == v]
            if not hits:
                raise InvalidInput(f"filters.{key}: unknown {key} {v!r}", f"filters.{key}")
            wanted.update(hits)
    return tuple(sorted(wanted))


def parse_filters(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidInput("filters: not valid JSON", "filters") from None
    if not isinstance(raw, dict):
        raise InvalidInput("filters: expected a JSON object", "filters")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise InvalidInput(f"filters: unknown key(s) {unknown} (known: {list(FILTER_KEYS)})", "filters")
    return {k: str(v) for k, v in raw.items() if v is not None}


_ITEM_KEYS = frozenset(f.alias or n for n, f in ParamItem.model_fields.items()) | set(ParamItem.model_fields)
_LOG_KEYS = frozenset(LogTemplate.model_fields)
_MERGE_KEYS = frozenset(f.alias or n for n, f in MergeSpec.model_fields.items())
_TASK_KEYS = frozenset(f.alias or n for n, f in TaskParams.model_fields.items())


def _fill(text: str, source_url: str) -> str:
    """JEDI's substitutions done at submission: ${SURL} (the sandbox server) and $JEDITASKID."""
    text = text.replace("${SURL}", source_url)
    return re.sub(r"\$JEDITASKID(?![A-Z_])", "${JEDITASKID}", text)


def _item(raw: object, where: str, source_url: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected an object", where)
    if "${LIB}" in str(raw.get("value", "")):
        raise InvalidInput(f"{where}: build jobs (${{LIB}}) are not supported; use prun --noBuild", where)
    return _fields(raw, _ITEM_KEYS, source_url)


def _fields(raw: Mapping[str, Any], keys: frozenset[str], source_url: str) -> dict[str, object]:
    """The keys pandawms knows, the file-name substitutions done, and a Rucio container's trailing
    ``/`` dropped from dataset names (pandawms's datasets and containers share one name space)."""
    out: dict[str, object] = {k: v for k, v in raw.items() if k in keys and v is not None}
    if isinstance(out.get("value"), str):
        out["value"] = _fill(str(out["value"]), source_url)
    for k in ("dataset", "container"):
        if isinstance(out.get(k), str):
            out[k] = str(out[k]).rstrip("/")
    return out


def task_params_of(raw: Mapping[str, Any], source_url: str) -> tuple[TaskParams, list[str]]:
    """pandawms's TaskParams from a prun/pathena parameter map, and the (sorted) keys it ignored.

    Keys pandawms does not use (cliParams, osInfo, architecture, ...) and nulls are dropped; ${SURL}
    becomes ``source_url``; a bad value is InvalidInput naming the key, as task/submit answers."""
    kept: dict[str, object] = {}
    ignored = sorted(k for k in raw if k not in _TASK_KEYS)
    for key, value in raw.items():
        if key not in _TASK_KEYS or value is None:
            continue
        if key == "jobParameters" and isinstance(value, list):
            value = [_item(v, f"jobParameters[{i}]", source_url) for i, v in enumerate(value)]
        elif key == "log" and isinstance(value, dict):
            value = _fields(value, _LOG_KEYS, source_url)
        elif key == "mergeSpec" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in _MERGE_KEYS}
        kept[key] = value
    try:
        return TaskParams.model_validate(kept), ignored
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"task_parameters: {problems}", "task_parameters") from None


def decode_object(value: Mapping[str, Any] | str, field: str) -> dict[str, Any]:
    """A JSON object sent as an object or as its JSON text (panda-client does both)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidInput(f"{field}: not valid JSON text", field) from None
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field}: expected a JSON object", field)
    return dict(value)


def submitted_answer(
    ids: Sequence[int], definition_ids: Sequence[int], names: Sequence[str]
) -> list[list[object]]:
    """job/submit's ``data``: ``[[PandaID, jobDefinitionID, jobName], ...]`` in submission order."""
    return [[p, d, n] for p, d, n in zip(ids, definition_ids, names, strict=True)]


def _pct(part: int, total: int) -> int:
    return (100 * part) // total if total else 0


def task_info(task: Task, progress: FileCounts) -> dict[str, object]:
    """A task as get_tasks_detailed_info_since answers it (JEDI's names, what pbook's LocalTaskSpec
    reads); reqID is the jediTaskID, as JEDI sets it for user tasks."""
    s = task.spec
    return {
        "jediTaskID": task.task_id,
        "reqID": task.task_id,
        "taskName": s.task_name,
        "userName": s.user_name,
        "prodSourceLabel": s.prod_source_label.value,
        "workingGroup": s.working_group or None,
        "status": task.status.value,
        "superStatus": SUPER_STATUS[task.status],
        "oldStatus": task.old_status.value if task.old_status else None,
        "errorDialog": task.error_dialog,
        "creationDate": encode_time(task.creation_time),
        "modificationTime": encode_time(task.modification_time),
        "nFiles": progress.total,
        "nFilesFinished": progress.finished,
        "nFilesFailed": progress.failed,
        "pctFinished": _pct(progress.finished, progress.total),
        "pctFailed": _pct(progress.failed, progress.total),
    }
