"""PanDA's legacy pilot API on the wire (``/server/panda/<method>``): what pilot3 sends and reads.

Requests arrive as a JSON object, or form-urlencoded where every value is text (``"False"``,
``"24105.06"``); gzip bodies without ``Content-Encoding`` are decoded before (server/bodies.py). The
values are converted here, by field, BEFORE the strict v1 models (protocol/pilot.py, whose integers refuse
text on purpose: protocol/bounds.py), so a bad value is a 400 naming the legacy field. Replies are flat
dicts with ``StatusCode`` (protocol/commands.StatusCode), JSON when the client accepts it, else
urlencoded, as PanDA's JobDispatcher answers. References: pilot3 pilot/util/https.py, control/job.py
(``get_dispatcher_dictionary``, ``get_data_structure``), info/jobdata.py; panda-server JobDispatcher.py.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pandawms.core.errors import InvalidInput
from pandawms.core.specs import FileType, Job
from pandawms.core.states import PILOT_REPORTABLE
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX
from pandawms.protocol.commands import StatusCode
from pandawms.protocol.pilot import MAX_REPORT_TEXT, PilotJob

LEGACY_PREFIX = "/server/panda"
GET_JOB = LEGACY_PREFIX + "/getJob"
UPDATE_JOB = LEGACY_PREFIX + "/updateJob"
GET_STATUS = LEGACY_PREFIX + "/getStatus"
GET_RESOURCE_TYPES = LEGACY_PREFIX + "/getResourceTypes"
UPDATE_WORKER_PILOT_STATUS = LEGACY_PREFIX + "/updateWorkerPilotStatus"
SET_DEBUG_MODE = LEGACY_PREFIX + "/setDebugMode"
GET_ACCESS_TOKEN = LEGACY_PREFIX + "/get_access_token"
GET_PROXY = LEGACY_PREFIX + "/getProxy"
GET_KEY_PAIR = LEGACY_PREFIX + "/getKeyPair"
GET_EVENT_RANGES = LEGACY_PREFIX + "/getEventRanges"
UPDATE_EVENT_RANGES = LEGACY_PREFIX + "/updateEventRanges"
UPDATE_WORKER_NODE = "/pilot/update_worker_node"  # pilot3 3.11's one v1 call (under /api/v1)
# PanDA's cache of the queue data (pilot3's --queuedata-url) and CRIC-style files
QUEUEDATA = "/cache/schedconfig/{queue}.all.json"
SCHEDCONFIG = "/cache/schedconfig/{queue}.json"
DDMENDPOINTS = "/cache/ddmendpoints.json"

# PanDA's Protocol codes beyond protocol/commands.StatusCode
SC_PERMISSION = 60
SC_NOT_SUPPORTED = 30  # SC_Failed, with an errorDialog naming the call
MAX_TEXT = 4000  # characters of a diagnostic kept (PanDA's column widths are smaller still)
FINAL_STATES = frozenset({"finished", "failed", "holding"})

Fields = dict[str, Any]

# PanDA's resource_types table as ATLAS defines it (getResourceTypes): pandawms matches jobs on cores and
# memory directly, so these are the names a pilot may send, not a pandawms setting
RESOURCE_TYPES = (
    {"resource_name": "SCORE", "mincore": None, "maxcore": 1, "minrampercore": None, "maxrampercore": 2000},
    {"resource_name": "MCORE", "mincore": 2, "maxcore": None, "minrampercore": None, "maxrampercore": 2000},
    {
        "resource_name": "SCORE_HIMEM",
        "mincore": None,
        "maxcore": 1,
        "minrampercore": 2001,
        "maxrampercore": None,
    },
    {
        "resource_name": "MCORE_HIMEM",
        "mincore": 2,
        "maxcore": None,
        "minrampercore": 2001,
        "maxrampercore": None,
    },
)
# updateWorkerPilotStatus: the pilot's word for its worker -> pandawms's worker status value
WORKER_PILOT_STATUS = {"started": "running", "running": "running", "finished": "finished", "failed": "failed"}


def decode_fields(raw: bytes, content_type: str) -> Fields:
    """The call's parameters: a JSON object, or form-urlencoded text (every value a string)."""
    text = raw.decode("utf-8", errors="strict") if raw else ""
    if not text.strip():
        return {}
    if content_type.startswith("application/json") or text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"body: not valid JSON ({exc})", "body") from None
        if not isinstance(value, dict):
            raise InvalidInput("body: expected a JSON object of parameters", "body")
        return value
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    if not pairs and "=" not in text:
        raise InvalidInput("body: expected form-urlencoded key=value pairs or a JSON object", "body")
    return dict(pairs)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "NULL", "None"))


def to_int(fields: Mapping[str, Any], name: str, lo: int = 0, hi: int = BIGINT_MAX) -> int | None:
    """An integer field given as a number or text ("42", "24105.06" -> 24105); None when absent."""
    value = fields.get(name)
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name}: expected a number, got {value!r}", name)
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise InvalidInput(f"{name}: expected a number, got {value!r}", name) from None
    if not isinstance(number, int | float) or not math.isfinite(number):
        raise InvalidInput(f"{name}: expected a number, got {value!r}", name)
    result = int(number)
    if not lo <= result <= hi:
        raise InvalidInput(f"{name}: {result} is outside {lo}..{hi}", name)
    return result


def to_str(fields: Mapping[str, Any], name: str, limit: int = 128) -> str | None:
    value = fields.get(name)
    if _blank(value):
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidInput(f"{name}: expected text, got {type(value).__name__}", name)
    text = str(value)
    if len(text) > limit:
        raise InvalidInput(f"{name}: longer than {limit} characters", name)
    return text


def to_time(fields: Mapping[str, Any], name: str) -> str | None:
    """pilot3's epoch float ("1733150000.12"), or PanDA's 'YYYY-MM-DD HH:MM:SS' -> the v1 text form."""
    value = fields.get(name)
    if _blank(value):
        return None
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        return to_str(fields, name, 32)
    seconds = to_int(fields, name, 0, 253402300799)  # up to 9999-12-31
    assert seconds is not None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


# getJob -------------------------------------------------------------------------------------------


def acquire_request(fields: Mapping[str, Any]) -> dict[str, Any]:
    """getJob's parameters as an ``AcquireRequest`` body (v1 names, integers converted)."""
    queue = to_str(fields, "siteName") or to_str(fields, "computingElement")
    if queue is None:
        raise InvalidInput("siteName: the queue to get a job for is required", "siteName")
    body: dict[str, Any] = {
        "site_name": queue,
        "n_jobs": to_int(fields, "nJobs", 1, 1000) or 1,
        "prod_source_label": to_str(fields, "prodSourceLabel", 20),
        "job_type": to_str(fields, "jobType", 20),
        "resource_type": to_str(fields, "resourceType", 32),
        "memory": to_int(fields, "mem") or 0,
        "disk_space": to_int(fields, "diskSpace") or 0,
        "core_count": to_int(fields, "coreCount", 0, INT_MAX) or 0,
        "remaining_time": to_int(fields, "remaining_time") or to_int(fields, "timeleft") or 0,
        "node": to_str(fields, "node") or "",
        "computing_element": to_str(fields, "computingElement") or "",
        "harvester_id": to_str(fields, "harvester_id", 50) or "",
    }
    worker = to_int(fields, "worker_id", 1)
    if worker is not None:
        body["worker_id"] = worker
    return {k: v for k, v in body.items() if v is not None}


def file_guid(panda_id: int, lfn: str) -> str:
    """The GUID of a job's output or log that neither the job nor pilot3 gave one (pilot3's generic
    plugin reports outputs without): derived from job and LFN, so a resent report names the same file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pandawms:{panda_id}:{lfn}"))


def legacy_job(job: Job, description: PilotJob) -> dict[str, Any]:
    """One job as getJob hands it out: JobSpec names, comma-joined file lists, None as "NULL"."""
    flat = description.model_dump(by_alias=True, exclude={"files"})
    logs = [f for f in job.files if f.type is FileType.LOG]
    ins = [f for f in job.files if f.type is FileType.INPUT]
    outs = [f for f in job.files if f.type is not FileType.INPUT]
    log_guid = logs[0].guid if logs and logs[0].guid else ""
    if logs and not log_guid:  # PanDA assigns it at submission; derived, so a resend gets the same one
        log_guid = file_guid(job.panda_id, logs[0].lfn)
    dblocks = [job.destination_dblock or f.dataset for f in outs]
    flat |= {
        "StatusCode": StatusCode.OK,
        "logGUID": log_guid,
        "jobDefinitionID": job.spec.jobset_id or 0,
        "destinationDblock": ",".join(dblocks),
        "destinationDBlockToken": ",".join("NULL" for _ in outs),
        "dispatchDblock": ",".join(job.dispatch_dblock or "NULL" for _ in ins),
        "dispatchDBlockToken": ",".join("NULL" for _ in ins),
        "dispatchDBlockTokenForOut": ",".join("NULL" for _ in outs),
        "prodDBlocks": ",".join(f.dataset or "NULL" for f in ins),
        "prodDBlockToken": ",".join("NULL" for _ in ins),
        "prodDBlockTokenForOutput": ",".join("NULL" for _ in outs),
        "realDatasetsIn": flat.get("realDatasetsIn", ""),
        "swRelease": "NULL",
        "homepackage": "NULL",
        "cmtConfig": "NULL",
        "transferType": "NULL",
        "maxCpuCount": 0,
        "attemptNr": job.attempt_nr,
    }
    return {k: "NULL" if v is None else v for k, v in flat.items()}


# updateJob ----------------------------------------------------------------------------------------

_INT_FIELDS = {  # legacy name -> (v1 name, lower bound, upper bound)
    "attemptNr": ("attempt_nr", 1, INT_MAX),
    "transExitCode": ("trans_exit_code", -INT_MAX, INT_MAX),
    "pilotErrorCode": ("pilot_error_code", 0, INT_MAX),
    "exeErrorCode": ("exe_error_code", -INT_MAX, INT_MAX),
    "cpuConsumptionTime": ("cpu_consumption_time", 0, BIGINT_MAX),
    "coreCount": ("core_count", 0, INT_MAX),
    "maxRSS": ("max_rss", 0, BIGINT_MAX),
    "maxVMEM": ("max_vmem", 0, BIGINT_MAX),
    "maxSWAP": ("max_swap", 0, BIGINT_MAX),
    "maxPSS": ("max_pss", 0, BIGINT_MAX),
    "avgRSS": ("avg_rss", 0, BIGINT_MAX),
    "avgPSS": ("avg_pss", 0, BIGINT_MAX),
    "nEvents": ("n_events", 0, BIGINT_MAX),
}
_STR_FIELDS = {  # legacy name -> (v1 name, limit)
    "jobSubStatus": ("job_sub_status", 80),
    "siteName": ("site_name", 128),
    "node": ("node", 128),
    "pilotID": ("pilot_id", 200),
    "batchID": ("batch_id", 80),
    "pilotErrorDiag": ("pilot_error_diag", MAX_TEXT),
    "exeErrorDiag": ("exe_error_diag", MAX_TEXT),
    "jobMetrics": ("job_metrics", MAX_TEXT),
}
_TEXT_FIELDS = {"metaData": "meta_data", "pilotLog": "pilot_log"}  # kept up to MAX_REPORT_TEXT


def job_id_and_state(fields: Mapping[str, Any]) -> tuple[int, str]:
    """The two values an update cannot do without (a 400 names the one that is wrong)."""
    job_id = to_int(fields, "jobId", 1)
    if job_id is None:
        raise InvalidInput("jobId: the PandaID of the job is required", "jobId")
    state = to_str(fields, "state", 32)
    if state is None or state not in PILOT_REPORTABLE:
        allowed = ", ".join(sorted(PILOT_REPORTABLE))
        raise InvalidInput(
            f"state: {state!r} is not a state a pilot reports; expected one of: {allowed}", "state"
        )
    return job_id, state


def output_files(fields: Mapping[str, Any], job_id: int) -> dict[str, dict[str, Any]]:
    """``xml``: pilot3's JSON of the transferred outputs and log, {lfn: {guid, fsize, adler32, surl}}
    (a missing guid is the one ``file_guid`` derives, as the log's logGUID was)."""
    raw = fields.get("xml")
    if _blank(raw):
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise InvalidInput(
            "xml: expected the JSON of the output files ({lfn: {guid, fsize, ...}})", "xml"
        ) from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise InvalidInput("xml: expected a JSON object {lfn: {guid, fsize, adler32, surl}}", "xml")
    out: dict[str, dict[str, Any]] = {}
    for lfn, info in value.items():
        where = f"xml.{lfn}"
        out[str(lfn)] = {
            "guid": to_str(info, "guid", 64) or file_guid(job_id, str(lfn)),
            "fsize": to_int(info, "fsize") or 0,
            "adler32": to_str(info, "adler32", 16) or "",
            "surl": to_str(info, "surl", 2000) or "",
        }
        if not out[str(lfn)]["adler32"] and not _blank(info.get("md5sum")):
            raise InvalidInput(f"{where}: md5sum given, pandawms stores adler32 checksums", where)
    return out


def update_request(fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """updateJob's parameters as an ``UpdateRequest`` body, and the problems left out of it.

    A final update (finished, failed, holding) is taken as sent: pilot3 does not read its answer, so a
    refusal would lose the job's ending. Its unreadable optional values are dropped and named in the
    answer's errorDialog; on a heartbeat they are a 400 like any bad input.
    """
    job_id, state = job_id_and_state(fields)
    final = state in FINAL_STATES
    body: dict[str, Any] = {"job_id": job_id, "job_status": state}
    dropped: list[str] = []

    def keep(name: str, convert: Any) -> None:
        try:
            value = convert()
        except InvalidInput as exc:
            if not final:
                raise
            dropped.append(str(exc))
            return
        if value is not None:
            body[name] = value

    for legacy, (v1, lo, hi) in _INT_FIELDS.items():
        keep(v1, lambda legacy=legacy, lo=lo, hi=hi: to_int(fields, legacy, lo, hi))
    for legacy, (v1, limit) in _STR_FIELDS.items():
        keep(v1, lambda legacy=legacy, limit=limit: _clipped(fields, legacy, limit, final))
    for legacy, v1 in _TEXT_FIELDS.items():
        keep(v1, lambda legacy=legacy: _clipped(fields, legacy, MAX_REPORT_TEXT, final))
    keep("start_time", lambda: to_time(fields, "startTime"))
    keep("end_time", lambda: to_time(fields, "endTime"))
    keep("job_output_report", lambda: output_files(fields, job_id) or None)
    return body, dropped


def _clipped(fields: Mapping[str, Any], name: str, limit: int, final: bool) -> str | None:
    """Text up to ``limit``; a final update's longer text is cut (its tail kept) instead of refused."""
    value = fields.get(name)
    if final and isinstance(value, str) and len(value) > limit:
        return value[-limit:]
    return to_str(fields, name, limit)


# replies ------------------------------------------------------------------------------------------


def wants_json(accept: str) -> bool:
    return "application/json" in accept.lower()


def encode_reply(reply: Mapping[str, Any], as_json: bool) -> tuple[bytes, str]:
    """The body and media type of a flat reply: JSON, or PanDA's urlencoded ``key=value&...``."""
    if as_json:
        return json.dumps(reply).encode(), "application/json"
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in reply.items()}
    return urlencode(values).encode(), "text/plain"


def error_reply(code: int, message: str) -> dict[str, Any]:
    return {"StatusCode": code, "errorDialog": message}
