"""The error-code catalog shared by server, pilot, CLI and monitor (reference errors.md §1-§6).

Everything here is data: one row table per component, the kill codes, the pilot's shell exit-code contract
and the monitor categories. Codes are never renumbered; a (component, code) pair has exactly one entry.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import NamedTuple

from pandawms.core.specs import ErrorComponent


class ErrorCategory(IntEnum):
    """The monitor's error categories (`errorcategory=N`, errors.md §6)."""

    UNCATEGORIZED = 0
    FILE_STORAGE = 1
    RUNTIME = 2
    NETWORK = 3
    TERMINATION = 4
    SOFTWARE = 5
    INTERNAL = 6


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """How the monitor shows a category: its name, fill and strong colours, and one sentence of advice."""

    category: ErrorCategory
    name: str
    fill: str
    strong: str
    advice: str


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One catalog entry; `phase` is the pilot phase for pilot codes and the component name otherwise."""

    component: ErrorComponent
    code: int
    acronym: str
    description: str
    category: ErrorCategory
    phase: str


_C = ErrorCategory

CATEGORIES: Mapping[ErrorCategory, CategoryInfo] = MappingProxyType(
    {
        info.category: info
        for info in (
            CategoryInfo(
                _C.UNCATEGORIZED,
                "Uncategorized",
                "#bdbdbd",
                "#898989",
                "not mapped yet — read the full error diag and the job's stdout to find the cause",
            ),
            CategoryInfo(
                _C.FILE_STORAGE,
                "File and Storage Issues",
                "#f1e8ff",
                "#934fff",
                "input/output registration or local disk problem — check that inputs exist, "
                "or wait for the automatic retry",
            ),
            CategoryInfo(
                _C.RUNTIME,
                "Runtime Failures and Resource Violations",
                "#ffc2bc",
                "#b22222",
                "the payload itself failed — check stdout/stderr for crashes or exceeded limits",
            ),
            CategoryInfo(
                _C.NETWORK,
                "Network and Communication Errors",
                "#d9efef",
                "#099999",
                "node ↔ storage/server connectivity dropped — usually transient, retries normally recover",
            ),
            CategoryInfo(
                _C.TERMINATION,
                "Job Termination and Kill Signals",
                "#fff1aa",
                "#deb900",
                "the batch system stopped the job — check walltime use or site preemption",
            ),
            CategoryInfo(
                _C.SOFTWARE,
                "Software and Environment Issues",
                "#e6f0f6",
                "#2174bb",
                "setup mismatch or missing software repository — verify release setup and environment",
            ),
            CategoryInfo(
                _C.INTERNAL,
                "Internal and Unknown Errors",
                "#fecfa6",
                "#e67300",
                "infrastructure or pilot failure — most likely transient, "
                "the system should recover by itself",
            ),
        )
    }
)

PILOT_PHASES: tuple[str, ...] = (
    "setup",
    "stagein",
    "payload",
    "stageout",
    "limits",
    "killed",
    "communication",
    "eventservice",
    "internal",
)

# ---------------------------------------------------------------------------------------------------------
# Pilot codes (errors.md §3) per phase: (code, acronym, category, description). Names the reference groups
# ("SINGULARITY…", "RUCIO…", "REMOTEFILE…") are spelled out with the Pilot's own constant names.
# ---------------------------------------------------------------------------------------------------------
_PilotRow = tuple[int, str, ErrorCategory, str]

_PILOT: Mapping[str, tuple[_PilotRow, ...]] = MappingProxyType(
    {
        "setup": (
            (1008, "GENERALERROR", _C.INTERNAL, "general pilot error"),
            (1098, "NOLOCALSPACE", _C.FILE_STORAGE, "local space <2 GB at start or <1 GB while running"),
            (1110, "SETUPFAILURE", _C.SOFTWARE, "payload setup failed"),
            (1116, "QUEUEDATA", _C.SOFTWARE, "queue configuration not obtainable"),
            (1117, "QUEUEDATANOTOK", _C.SOFTWARE, "queue configuration invalid"),
            (1149, "TRFDOWNLOADFAILURE", _C.SOFTWARE, "transform download failed"),
            (1163, "NOPROXY", _C.SOFTWARE, "grid proxy invalid"),
            (1177, "NOVOMSPROXY", _C.SOFTWARE, "VOMS proxy invalid"),
            (1186, "NOSOFTWAREDIR", _C.SOFTWARE, "software directory missing"),
            (1199, "MKDIR", _C.FILE_STORAGE, "cannot create directory"),
            (1211, "MISSINGINSTALLATION", _C.SOFTWARE, "release missing: installation not found"),
            (1244, "NORELEASEFOUND", _C.SOFTWARE, "release missing: no release candidates found"),
            (1246, "NOUSERTARBALL", _C.SOFTWARE, "user code not on the server: no user tarball"),
            (1335, "MISSINGUSERCODE", _C.SOFTWARE, "user code not on the server"),
            (1306, "SINGULARITYGENERALFAILURE", _C.SOFTWARE, "container runtime failure: general"),
            (1307, "SINGULARITYNOLOOPDEVICES", _C.SOFTWARE, "container runtime failure: loop devices"),
            (1308, "SINGULARITYBINDPOINTFAILURE", _C.SOFTWARE, "container runtime failure: bind point"),
            (1309, "SINGULARITYIMAGEMOUNTFAILURE", _C.SOFTWARE, "container runtime failure: image mount"),
            (1340, "SINGULARITYNEWUSERNAMESPACE", _C.SOFTWARE, "container runtime failure: user namespace"),
            (
                1345,
                "SINGULARITYFAILEDUSERNAMESPACE",
                _C.SOFTWARE,
                "container runtime failure: user namespace",
            ),
            (1348, "SINGULARITYRESOURCEUNAVAILABLE", _C.SOFTWARE, "container runtime: resource unavailable"),
            (1325, "SINGULARITYNOTINSTALLED", _C.SOFTWARE, "container runtime missing: Singularity"),
            (1372, "APPTAINERNOTINSTALLED", _C.SOFTWARE, "container runtime missing: Apptainer"),
            (1334, "SETUPFATAL", _C.SOFTWARE, "fatal setup exception"),
            (1341, "BADQUEUECONFIGURATION", _C.SOFTWARE, "bad queue configuration"),
            (1342, "MIDDLEWAREIMPORTFAILURE", _C.SOFTWARE, "cannot import middleware (e.g. rucio)"),
            (1346, "TRANSFORMNOTFOUND", _C.SOFTWARE, "transform not found"),
            (1358, "MISSINGRELEASEUNPACKED", _C.SOFTWARE, "container image problem: release not unpacked"),
            (1360, "IMAGENOTFOUND", _C.SOFTWARE, "container image problem: image not found"),
            (1359, "PANDAQUEUENOTACTIVE", _C.INTERNAL, "queue not usable: not active"),
            (1386, "NOTONLINE", _C.INTERNAL, "queue not usable: not online"),
            (1369, "FRONTIER", _C.NETWORK, "conditions DB (Frontier) error"),
            (1370, "VOMSPROXYABOUTTOEXPIRE", _C.INTERNAL, "internal: obtain a new proxy"),
            (1373, "CERTIFICATEHASEXPIRED", _C.SOFTWARE, "credential lifetime: certificate has expired"),
            (1382, "PROXYTOOSHORT", _C.SOFTWARE, "credential lifetime: proxy too short"),
            (1377, "CVMFSISNOTALIVE", _C.SOFTWARE, "CVMFS not responding"),
            (1384, "QUEUENOTSETUPFORCONTAINERS", _C.SOFTWARE, "queue lacks container type"),
        ),
        "stagein": (
            (1099, "STAGEINFAILED", _C.FILE_STORAGE, "generic stage-in failure"),
            (1100, "REPLICANOTFOUND", _C.FILE_STORAGE, "replica not found"),
            (1103, "NOSUCHFILE", _C.FILE_STORAGE, "no such file"),
            (1145, "GETMD5MISMATCH", _C.FILE_STORAGE, "md5 mismatch on input"),
            (1171, "GETADMISMATCH", _C.FILE_STORAGE, "adler32 mismatch on input"),
            (1151, "STAGEINTIMEOUT", _C.FILE_STORAGE, "stage-in timed out (also looping during stage-in)"),
            (1168, "SIZETOOLARGE", _C.FILE_STORAGE, "total input too large"),
            (1242, "CHKSUMNOTSUP", _C.FILE_STORAGE, "checksum problem: checksum query not supported"),
            (1314, "UNKNOWNCHECKSUMTYPE", _C.FILE_STORAGE, "checksum problem: unknown checksum type"),
            (1366, "CHECKSUMCALCFAILURE", _C.FILE_STORAGE, "checksum problem: checksum calculation failed"),
            (1313, "NOSTORAGEPROTOCOL", _C.FILE_STORAGE, "no protocol for the endpoint"),
            (1316, "RUCIOSERVICEUNAVAILABLE", _C.NETWORK, "Rucio: catalogue unavailable"),
            (1321, "RUCIOLOCATIONFAILED", _C.FILE_STORAGE, "Rucio: client location failed"),
            (1322, "RUCIOLISTREPLICASFAILED", _C.FILE_STORAGE, "Rucio: replica listing failed"),
            (1326, "NOREPLICAS", _C.FILE_STORAGE, "no matching replicas"),
            (1327, "UNREACHABLENETWORK", _C.NETWORK, "network unreachable"),
            (1331, "MISSINGINPUTFILE", _C.FILE_STORAGE, "input missing on storage"),
            (1338, "STAGEINAUTHENTICATIONFAILURE", _C.FILE_STORAGE, 'stage-in "Cannot authenticate"'),
            (1361, "REMOTEFILECOULDNOTBEOPENED", _C.FILE_STORAGE, "direct access: remote file not opened"),
            (1362, "XRDCPERROR", _C.FILE_STORAGE, "direct access: xrdcp could not open the file"),
            (1368, "REMOTEFILEOPENTIMEDOUT", _C.FILE_STORAGE, "direct access: remote file open timed out"),
            (1374, "REMOTEFILEDICTDOESNOTEXIST", _C.FILE_STORAGE, "direct access: remote file dict missing"),
            (1378, "LSETUPTIMEDOUT", _C.FILE_STORAGE, "direct access: lsetup timed out"),
            (1364, "MISSINGCREDENTIALS", _C.FILE_STORAGE, "S3 credentials missing"),
        ),
        "payload": (
            (1187, "NOPAYLOADMETADATA", _C.RUNTIME, "payload wrote no metadata/summary file"),
            (1212, "PAYLOADOUTOFMEMORY", _C.RUNTIME, "payload out of memory"),
            (1220, "UNKNOWNPAYLOADFAILURE", _C.RUNTIME, "unknown failure (also the ES failed-range code)"),
            (1223, "BADALLOC", _C.RUNTIME, "std::bad_alloc"),
            (1305, "PAYLOADEXECUTIONFAILURE", _C.RUNTIME, "payload exited with a non-zero code"),
            (1310, "PAYLOADEXECUTIONEXCEPTION", _C.RUNTIME, "exception while running the payload"),
            (1315, "UNKNOWNTRFFAILURE", _C.RUNTIME, "unknown transform failure (exit 251 / -1)"),
            (1328, "PAYLOADSIGSEGV", _C.RUNTIME, "payload segfault"),
            (1343, "NOOUTPUTINJOBREPORT", _C.RUNTIME, "payload summary lists no output"),
            (1344, "RESOURCEUNAVAILABLE", _C.RUNTIME, "resource temporarily unavailable"),
            (1349, "UNRECOGNIZEDTRFARGUMENTS", _C.RUNTIME, "bad transform arguments"),
            (1351, "UNRECOGNIZEDTRFSTDERR", _C.RUNTIME, "fatal error in transform stderr"),
            (1352, "STATFILEPROBLEM", _C.INTERNAL, "CPU accounting failure: cannot stat proc file"),
            (1353, "NOSUCHPROCESS", _C.INTERNAL, "CPU accounting failure: no such process"),
            (1354, "GENERALCPUCALCPROBLEM", _C.INTERNAL, "CPU accounting failure: general problem"),
            (1355, "COREDUMP", _C.RUNTIME, "core dump found"),
            (1356, "PREPROCESSFAILURE", _C.RUNTIME, "pre-process failed"),
            (1357, "POSTPROCESSFAILURE", _C.RUNTIME, "post-process failed"),
            (1367, "COMMANDTIMEDOUT", _C.RUNTIME, "command timeout"),
        ),
        "stageout": (
            (1124, "OUTPUTFILETOOLARGE", _C.FILE_STORAGE, "output file larger than 500 GB"),
            (1133, "NOSTORAGE", _C.FILE_STORAGE, "no output RSE for the activity"),
            (1137, "STAGEOUTFAILED", _C.FILE_STORAGE, "generic stage-out failure"),
            (1141, "PUTMD5MISMATCH", _C.FILE_STORAGE, "md5 mismatch after upload"),
            (1172, "PUTADMISMATCH", _C.FILE_STORAGE, "adler32 mismatch after upload"),
            (1152, "STAGEOUTTIMEOUT", _C.FILE_STORAGE, "stage-out timed out"),
            (1165, "MISSINGOUTPUTFILE", _C.FILE_STORAGE, "expected output absent"),
            (1190, "LFNTOOLONG", _C.FILE_STORAGE, "LFN longer than 255 characters"),
            (1191, "ZEROFILESIZE", _C.FILE_STORAGE, "empty output: zero file size"),
            (1350, "EMPTYOUTPUTFILE", _C.FILE_STORAGE, "empty output file"),
            (1221, "FILEEXISTS", _C.FILE_STORAGE, "file already exists"),
            (1329, "NONDETERMINISTICDDM", _C.FILE_STORAGE, "cannot build SURL on a non-deterministic RSE"),
            (1333, "NOREMOTESPACE", _C.FILE_STORAGE, "destination full"),
            (1371, "BADOUTPUTFILENAME", _C.FILE_STORAGE, "output file name has illegal characters"),
            (1383, "STAGEOUTAUTHENTICATIONFAILURE", _C.FILE_STORAGE, "stage-out authentication failure"),
            (1320, "LOGFILECREATIONFAILURE", _C.FILE_STORAGE, "log tarball creation failed"),
            (1376, "LOGCREATIONTIMEOUT", _C.FILE_STORAGE, "log tarball creation timed out"),
        ),
        "limits": (
            (1104, "USERDIRTOOLARGE", _C.RUNTIME, "work directory above the queue cap (maxwdir)"),
            (1106, "STDOUTTOOBIG", _C.RUNTIME, "a payload log above 2 GB (zipped, job killed)"),
            (1150, "LOOPINGJOB", _C.RUNTIME, "no file in the workdir modified for 2 h"),
            (1213, "REACHEDMAXTIME", _C.TERMINATION, "pilot max time / job walltime / machine shutdown"),
            (1235, "PAYLOADEXCEEDMAXMEM", _C.RUNTIME, "payload maxPSS above the memory limit"),
            (1337, "BADMEMORYMONITORJSON", _C.INTERNAL, "memory monitor output unreadable"),
            (1332, "BLACKHOLE", _C.FILE_STORAGE, "black-hole file system"),
        ),
        "killed": (
            (1144, "PANDAKILL", _C.TERMINATION, "killed by the server (answered tobekilled)"),
            (1200, "KILLSIGNAL", _C.TERMINATION, "killed by an unknown signal"),
            (1201, "SIGTERM", _C.TERMINATION, "signal received: SIGTERM"),
            (1202, "SIGQUIT", _C.TERMINATION, "signal received: SIGQUIT"),
            (1203, "SIGSEGV", _C.TERMINATION, "signal received: SIGSEGV"),
            (1204, "SIGXCPU", _C.TERMINATION, "signal received: SIGXCPU"),
            (1205, "USERKILL", _C.TERMINATION, "signal received: killed by the user"),
            (1206, "SIGBUS", _C.TERMINATION, "signal received: SIGBUS"),
            (1207, "SIGUSR1", _C.TERMINATION, "signal received: SIGUSR1"),
            (1208, "SIGINT", _C.TERMINATION, "signal received: SIGINT"),
            (1234, "EXECUTEDCLONEJOB", _C.TERMINATION, "clone already executed elsewhere"),
            (1236, "FAILEDBYSERVER", _C.TERMINATION, "failed by server (factory worker kills)"),
            (1336, "JOBALREADYRUNNING", _C.TERMINATION, "job running elsewhere"),
            (1379, "PREEMPTION", _C.TERMINATION, "preempted (SIGTERM on Kubernetes)"),
        ),
        "communication": (
            (1317, "EXCEEDEDMAXWAITTIME", _C.NETWORK, "3 h without a successful update"),
            (1318, "COMMUNICATIONFAILURE", _C.NETWORK, "server unreachable"),
            (1324, "SERVICENOTAVAILABLE", _C.NETWORK, "service unreachable"),
        ),
        "internal": (
            (1301, "UNKNOWNEXCEPTION", _C.INTERNAL, "internal: unknown pilot exception"),
            (1319, "INTERNALPILOTPROBLEM", _C.INTERNAL, "internal pilot problem"),
            (1385, "NOJOBSINPANDA", _C.INTERNAL, "internal: no jobs (HPC, >= 5 empty getJob)"),
        ),
        "eventservice": (
            (1224, "ESRECOVERABLE", _C.INTERNAL, "Event Service: recoverable error"),
            (1228, "ESFATAL", _C.INTERNAL, "Event Service: fatal error"),
            (1238, "ESNOEVENTS", _C.INTERNAL, "Event Service: no events"),
        ),
    }
)

# ---------------------------------------------------------------------------------------------------------
# Server components (errors.md §1-§2): (code, acronym, category, description); phase is the component name.
# ---------------------------------------------------------------------------------------------------------
_ServerRow = tuple[int, str, ErrorCategory, str]

_JOBDISPATCHER: tuple[_ServerRow, ...] = (
    (100, "LOST_HEARTBEAT", _C.TERMINATION, "lost heartbeat (Watcher)"),
    (101, "RECOVERY_FAILED", _C.INTERNAL, "recovery failed"),
    (102, "SENT_TIMEOUT", _C.INTERNAL, "sent without pilot reply within 30 min"),
    (103, "HOLDING_TIMEOUT", _C.FILE_STORAGE, "timeout in holding"),
    (104, "TRANSFERRING_TIMEOUT", _C.FILE_STORAGE, "timeout in transferring"),
    (105, "OTHER_TIMEOUT", _C.INTERNAL, "other timeout"),
)

_DDM: tuple[_ServerRow, ...] = (
    (100, "SETUPPER_FAILURE", _C.FILE_STORAGE, "Setupper failure"),
    (101, "GUID_PROBLEM", _C.FILE_STORAGE, "GUID problem"),
    (200, "ADDER_FAILURE", _C.FILE_STORAGE, "Adder failure"),
    (201, "SUBSCRIPTION_FAILURE", _C.FILE_STORAGE, "subscription failure"),
    (203, "LOCATION_REGISTRATION_FAILURE", _C.FILE_STORAGE, "location registration failure"),
    (204, "MISSING_NEVENTS", _C.FILE_STORAGE, "missing nEvents"),
    (205, "INCONSISTENT_GUID", _C.FILE_STORAGE, "inconsistent GUID"),
    (206, "WRONG_RSE_CONFIGURATION", _C.FILE_STORAGE, "wrong RSE configuration"),
)

_TASKBUFFER: tuple[_ServerRow, ...] = (
    (100, "KILLED", _C.TERMINATION, "killed"),
    (101, "TRANSFER_TIMEOUT", _C.FILE_STORAGE, "transfer timeout"),
    (102, "EXPIRED", _C.TERMINATION, "expired"),
    (103, "ABORTED", _C.TERMINATION, "aborted"),
    (105, "REASSIGNED", _C.TERMINATION, "reassigned (rebrokerage)"),
    (106, "SERVER_RETRY", _C.TERMINATION, "server retry"),
    (107, "PILOT_RETRY", _C.TERMINATION, "pilot retry"),
    (111, "ES_RETRIED", _C.INTERNAL, "ES: retried (new consumer)"),
    (112, "ES_MERGE_GENERATED", _C.INTERNAL, "ES: merge job generated"),
    (113, "MERGE_FAILED", _C.INTERNAL, "merge failed"),
    (114, "ES_MAX_ATTEMPTS", _C.INTERNAL, "ES: max job attempts reached"),
    (115, "ES_WAITING_FOR_OTHERS", _C.INTERNAL, "ES: waiting for other consumers"),
    (116, "ES_UNUSED_CONSUMER", _C.INTERNAL, "ES: unused consumer"),
    (117, "ES_NOTHING_PROCESSED", _C.INTERNAL, "ES: consumer processed nothing"),
    (118, "ES_LAST_NOTHING_PROCESSED", _C.INTERNAL, "ES: consumer processed nothing (the last one)"),
    (119, "ES_ALL_RANGES_FAILED", _C.RUNTIME, "ES: all ranges failed"),
    (120, "ES_KILL_OK", _C.TERMINATION, "ES: kill OK"),
    (121, "ES_KILL_NG", _C.TERMINATION, "ES: kill NG"),
    (122, "ES_PREEMPTION", _C.TERMINATION, "ES: preemption"),
    (123, "ES_NO_EVENT", _C.INTERNAL, "ES: no event"),
    (124, "ES_INPUT_INCONSISTENT", _C.FILE_STORAGE, "ES: input inconsistent"),
    (125, "NO_ES_QUEUES", _C.INTERNAL, "no ES queues"),
    (126, "CLOSED_BAD_STATUS", _C.INTERNAL, "closed in bad status"),
    (130, "FAST_REBROKERAGE", _C.TERMINATION, "fast rebrokerage"),
    (200, "CLONE_SEMAPHORE_LOST", _C.TERMINATION, "job-cloning semaphore lost"),
    (300, "WORKER_ENDED", _C.TERMINATION, "factory worker ended before the job"),
)

_SUP: tuple[_ServerRow, ...] = (
    (1, "INVALID_BATCH_ID", _C.INTERNAL, "invalid batch ID"),
    (2, "WORKER_ALREADY_DONE", _C.TERMINATION, "worker already done"),
)

# pandawms: PanDA leaves brokerage codes unused; ours say why a job could not be placed.
_BROKERAGE: tuple[_ServerRow, ...] = (
    (1, "NO_QUEUE", _C.SOFTWARE, "no queue can run this job (its request exceeds every queue's limits)"),
)

_SERVER_TABLES: Mapping[ErrorComponent, tuple[_ServerRow, ...]] = MappingProxyType(
    {
        ErrorComponent.JOBDISPATCHER: _JOBDISPATCHER,
        ErrorComponent.BROKERAGE: _BROKERAGE,
        ErrorComponent.DDM: _DDM,
        ErrorComponent.TASKBUFFER: _TASKBUFFER,
        ErrorComponent.SUP: _SUP,
    }
)

# Named codes used by the other modules; tests check each name against the catalog's acronym.
PILOT_GENERALERROR = 1008
PILOT_NOLOCALSPACE = 1098
PILOT_STAGEINFAILED = 1099
PILOT_REPLICANOTFOUND = 1100
PILOT_NOSUCHFILE = 1103
PILOT_USERDIRTOOLARGE = 1104
PILOT_STDOUTTOOBIG = 1106
PILOT_SETUPFAILURE = 1110
PILOT_QUEUEDATA = 1116
PILOT_QUEUEDATANOTOK = 1117
PILOT_STAGEOUTFAILED = 1137
PILOT_PUTMD5MISMATCH = 1141
PILOT_PANDAKILL = 1144
PILOT_GETMD5MISMATCH = 1145
PILOT_LOOPINGJOB = 1150
PILOT_STAGEINTIMEOUT = 1151
PILOT_STAGEOUTTIMEOUT = 1152
PILOT_NOPROXY = 1163
PILOT_MISSINGOUTPUTFILE = 1165
PILOT_GETADMISMATCH = 1171
PILOT_PUTADMISMATCH = 1172
PILOT_NOSOFTWAREDIR = 1186
PILOT_NOPAYLOADMETADATA = 1187
PILOT_ZEROFILESIZE = 1191
PILOT_MKDIR = 1199
PILOT_KILLSIGNAL = 1200
PILOT_SIGTERM = 1201
PILOT_SIGQUIT = 1202
PILOT_SIGSEGV = 1203
PILOT_SIGXCPU = 1204
PILOT_USERKILL = 1205
PILOT_SIGBUS = 1206
PILOT_SIGUSR1 = 1207
PILOT_SIGINT = 1208
PILOT_PAYLOADOUTOFMEMORY = 1212
PILOT_REACHEDMAXTIME = 1213
PILOT_UNKNOWNPAYLOADFAILURE = 1220
PILOT_BADALLOC = 1223
PILOT_ESRECOVERABLE = 1224
PILOT_ESFATAL = 1228
PILOT_EXECUTEDCLONEJOB = 1234
PILOT_PAYLOADEXCEEDMAXMEM = 1235
PILOT_FAILEDBYSERVER = 1236
PILOT_ESNOEVENTS = 1238
PILOT_UNKNOWNEXCEPTION = 1301
PILOT_PAYLOADEXECUTIONFAILURE = 1305
PILOT_PAYLOADEXECUTIONEXCEPTION = 1310
PILOT_UNKNOWNTRFFAILURE = 1315
PILOT_EXCEEDEDMAXWAITTIME = 1317
PILOT_COMMUNICATIONFAILURE = 1318
PILOT_INTERNALPILOTPROBLEM = 1319
PILOT_LOGFILECREATIONFAILURE = 1320
PILOT_SERVICENOTAVAILABLE = 1324
PILOT_PAYLOADSIGSEGV = 1328
PILOT_MISSINGINPUTFILE = 1331
PILOT_BLACKHOLE = 1332
PILOT_NOREMOTESPACE = 1333
PILOT_JOBALREADYRUNNING = 1336
PILOT_BADMEMORYMONITORJSON = 1337
PILOT_MIDDLEWAREIMPORTFAILURE = 1342
PILOT_NOOUTPUTINJOBREPORT = 1343
PILOT_TRANSFORMNOTFOUND = 1346
PILOT_UNRECOGNIZEDTRFARGUMENTS = 1349
PILOT_EMPTYOUTPUTFILE = 1350
PILOT_COREDUMP = 1355
PILOT_PANDAQUEUENOTACTIVE = 1359
PILOT_COMMANDTIMEDOUT = 1367
PILOT_LOGCREATIONTIMEOUT = 1376
PILOT_CVMFSISNOTALIVE = 1377
PILOT_PREEMPTION = 1379
PILOT_PROXYTOOSHORT = 1382
PILOT_NOJOBSINPANDA = 1385
PILOT_NOTONLINE = 1386

JOBDISPATCHER_LOST_HEARTBEAT = 100
JOBDISPATCHER_RECOVERY_FAILED = 101
JOBDISPATCHER_SENT_TIMEOUT = 102
JOBDISPATCHER_HOLDING_TIMEOUT = 103
JOBDISPATCHER_TRANSFERRING_TIMEOUT = 104
JOBDISPATCHER_OTHER_TIMEOUT = 105

DDM_SETUPPER_FAILURE = 100
DDM_GUID_PROBLEM = 101
DDM_ADDER_FAILURE = 200
DDM_SUBSCRIPTION_FAILURE = 201
DDM_LOCATION_REGISTRATION_FAILURE = 203
DDM_MISSING_NEVENTS = 204
DDM_INCONSISTENT_GUID = 205
DDM_WRONG_RSE_CONFIGURATION = 206

TASKBUFFER_KILLED = 100
TASKBUFFER_TRANSFER_TIMEOUT = 101
TASKBUFFER_EXPIRED = 102
TASKBUFFER_ABORTED = 103
TASKBUFFER_REASSIGNED = 105
TASKBUFFER_SERVER_RETRY = 106
TASKBUFFER_PILOT_RETRY = 107
TASKBUFFER_ES_RETRIED = 111
TASKBUFFER_ES_MERGE_GENERATED = 112
TASKBUFFER_MERGE_FAILED = 113
TASKBUFFER_ES_MAX_ATTEMPTS = 114
TASKBUFFER_ES_WAITING_FOR_OTHERS = 115
TASKBUFFER_ES_UNUSED_CONSUMER = 116
TASKBUFFER_ES_NOTHING_PROCESSED = 117
TASKBUFFER_ES_LAST_NOTHING_PROCESSED = 118
TASKBUFFER_ES_ALL_RANGES_FAILED = 119
TASKBUFFER_ES_KILL_OK = 120
TASKBUFFER_ES_KILL_NG = 121
TASKBUFFER_ES_PREEMPTION = 122
TASKBUFFER_ES_NO_EVENT = 123
TASKBUFFER_ES_INPUT_INCONSISTENT = 124
TASKBUFFER_NO_ES_QUEUES = 125
TASKBUFFER_CLOSED_BAD_STATUS = 126
TASKBUFFER_FAST_REBROKERAGE = 130
TASKBUFFER_CLONE_SEMAPHORE_LOST = 200
TASKBUFFER_WORKER_ENDED = 300

SUP_INVALID_BATCH_ID = 1
BROKERAGE_NO_QUEUE = 1
SUP_WORKER_ALREADY_DONE = 2

# Stage-out codes after which the job may go to holding instead of failed (errors.md §3.4), and the input
# codes the Event Service treats as corrupted input (1099 only as possibly temporary, §3.6). 1135, 1136,
# 1175 and 1181 have no name in the reference, so they are listed here but have no catalog entry.
PILOT_RECOVERABLE_CODES: frozenset[int] = frozenset({1135, 1136, 1137, 1141, 1152, 1181})
PILOT_ES_CORRUPTED_INPUT_CODES: frozenset[int] = frozenset({1171, 1145, 1175, 1103})
PILOT_ES_TEMPORARY_INPUT_CODES: frozenset[int] = frozenset({1099})


def _build() -> Mapping[tuple[ErrorComponent, int], ErrorInfo]:
    infos = [
        ErrorInfo(ErrorComponent.PILOT, c, a, d, cat, phase)
        for phase, rows in _PILOT.items()
        for c, a, cat, d in rows
    ]
    for comp, table in _SERVER_TABLES.items():
        infos += [ErrorInfo(comp, c, a, d, cat, comp.value) for c, a, cat, d in table]
    out: dict[tuple[ErrorComponent, int], ErrorInfo] = {}
    for info in infos:
        key = (info.component, info.code)
        if key in out:
            raise RuntimeError(f"duplicate error code {info.component}:{info.code}")
        out[key] = info
    return MappingProxyType(out)


_CATALOG = _build()

# Monitor and column names (errors.md §1) that name a component differently.
_COMPONENT_ALIASES: Mapping[str, ErrorComponent] = MappingProxyType(
    {
        "executor": ErrorComponent.EXE,
        "transform": ErrorComponent.EXE,
        "dataservice": ErrorComponent.DDM,
        "supervisor": ErrorComponent.SUP,
    }
)


def parse_component(component: ErrorComponent | str) -> ErrorComponent:
    """The component for an enum member, its value or a monitor alias; ValueError names the valid ones."""
    if isinstance(component, ErrorComponent):
        return component
    name = component.strip().lower()
    if name in _COMPONENT_ALIASES:
        return _COMPONENT_ALIASES[name]
    try:
        return ErrorComponent(name)
    except ValueError:
        valid = ", ".join([*(c.value for c in ErrorComponent), *_COMPONENT_ALIASES])
        raise ValueError(f"unknown error component {component!r}; valid: {valid}") from None


def describe(component: ErrorComponent | str, code: int) -> ErrorInfo:
    """The catalog entry, or an Uncategorized "UNKNOWN" entry for a code the catalog lacks."""
    comp = parse_component(component)
    info = _CATALOG.get((comp, code))
    if info is not None:
        return info
    phase = "internal" if comp is ErrorComponent.PILOT else comp.value
    desc = f"unknown {comp.value} error code {code}"
    return ErrorInfo(comp, code, "UNKNOWN", desc, ErrorCategory.UNCATEGORIZED, phase)


def catalog() -> list[ErrorInfo]:
    """Every entry, sorted by (component name, code)."""
    return sorted(_CATALOG.values(), key=lambda i: (i.component.value, i.code))


def category_info(category: ErrorCategory | int) -> CategoryInfo:
    """Name, colours and advice of a category; ValueError for a number outside 0..6."""
    return CATEGORIES[ErrorCategory(category)]


# ---------------------------------------------------------------------------------------------------------
# Kill codes (errors.md §2.1): the `killJobs` code argument and the final state it leads to.
# ---------------------------------------------------------------------------------------------------------
class KillCode(NamedTuple):
    meaning: str
    final_state: str  # "closed" (not a user failure) or "cancelled"


KILL_CODES: Mapping[int, KillCode] = MappingProxyType(
    {
        2: KillCode("expire", "closed"),
        3: KillCode("aborted", "cancelled"),
        4: KillCode("expire in waiting", "closed"),
        7: KillCode("server retry", "cancelled"),
        8: KillCode("rebrokerage", "cancelled"),
        9: KillCode("force kill", "cancelled"),
        10: KillCode("fast rebrokerage", "closed"),
        50: KillCode("kill by JEDI", "cancelled"),
        51: KillCode("reassigned by JEDI", "closed"),
        52: KillCode("force kill by JEDI", "cancelled"),
        55: KillCode("task (almost) done", "closed"),
        60: KillCode("terminated by pilot without work", "closed"),
        91: KillCode("kill user jobs with production role", "cancelled"),
        99: KillCode("force-kill user jobs with production role", "cancelled"),
    }
)

# Force kills end the job on the server at once instead of asking the pilot to kill it.
KILL_FORCE_CODES: frozenset[int] = frozenset({9, 52, 99})


def kill_final_state(code: int) -> str:
    """The state ("closed" or "cancelled") a kill with this code leads to; ValueError lists valid codes."""
    entry = KILL_CODES.get(code)
    if entry is None:
        valid = ", ".join(str(c) for c in sorted(KILL_CODES))
        raise ValueError(f"unknown kill code {code}; valid codes: {valid}")
    return entry.final_state


# ---------------------------------------------------------------------------------------------------------
# Shell exit-code contract (errors.md §4): how the factory classifies a dead pilot from its exit status.
# ---------------------------------------------------------------------------------------------------------
EXIT_OK = 0
EXIT_SITE_OFFLINE = 64
EXIT_GENERAL_ERROR = 65
EXIT_MKDIR = 66
EXIT_NO_SUCH_FILE = 67
EXIT_PROXY_INVALID = 68
EXIT_NO_LOCAL_SPACE = 69
EXIT_EXCEPTION = 70
EXIT_QUEUEDATA = 71
EXIT_BAD_QUEUEDATA = 72
EXIT_NO_SOFTWARE_DIR = 73
EXIT_JSON_TIMEOUT = 74
EXIT_BLACK_HOLE = 75
EXIT_MIDDLEWARE_IMPORT = 76
EXIT_MISSING_INPUT = 77
EXIT_QUEUE_NOT_ACTIVE = 78
EXIT_SERVER_COMMUNICATION = 79
EXIT_PROXY_TOO_SHORT = 80
EXIT_REACHED_MAX_TIME = 81
EXIT_NO_JOBS = 82
EXIT_QUEUE_OFFLINE = 83
EXIT_WRAPPER_FAULT = 1
EXIT_WRAPPER_KILLED_STUCK_PILOT = 2

PILOT_EXIT_CODES: Mapping[int, str] = MappingProxyType(
    {
        64: "site offline / CVMFS",
        65: "general error",
        66: "mkdir",
        67: "no such file",
        68: "proxy invalid / expired",
        69: "no local space",
        70: "exception",
        71: "queuedata",
        72: "bad queuedata",
        73: "no software dir",
        74: "JSON retrieval timeout",
        75: "black hole",
        76: "middleware import",
        77: "missing input",
        78: "queue not active",
        79: "server communication",
        80: "proxy too short",
        81: "reached max time",
        82: "no jobs in PanDA",
        83: "queue offline",
        130: "killed by signal SIGINT",
        131: "killed by signal SIGQUIT",
        135: "killed by signal SIGBUS",
        137: "killed by signal SIGKILL",
        138: "killed by signal SIGUSR1",
        139: "killed by signal SIGSEGV",
        143: "killed by signal SIGTERM",
        152: "killed by signal SIGXCPU",
    }
)

# Exit statuses set by the pilot wrapper itself (64, CVMFS, is shared with the pilot's table).
WRAPPER_EXIT_CODES: Mapping[int, str] = MappingProxyType(
    {1: "wrapper fault", 2: "wrapper killed a stuck pilot"}
)

# pilot error code -> shell exit status. Several codes share an exit (68: any proxy problem; 137: unknown
# signal and user kill; 64: CVMFS, like "site offline"); pilot codes absent here exit with EXIT_GENERAL_ERROR.
EXIT_FOR_PILOT_CODE: Mapping[int, int] = MappingProxyType(
    {
        PILOT_CVMFSISNOTALIVE: 64,
        PILOT_GENERALERROR: 65,
        PILOT_MKDIR: 66,
        PILOT_NOSUCHFILE: 67,
        PILOT_NOPROXY: 68,
        1177: 68,  # NOVOMSPROXY
        1373: 68,  # CERTIFICATEHASEXPIRED
        PILOT_NOLOCALSPACE: 69,
        PILOT_UNKNOWNEXCEPTION: 70,
        PILOT_QUEUEDATA: 71,
        PILOT_QUEUEDATANOTOK: 72,
        PILOT_NOSOFTWAREDIR: 73,
        PILOT_BLACKHOLE: 75,
        PILOT_MIDDLEWAREIMPORTFAILURE: 76,
        PILOT_MISSINGINPUTFILE: 77,
        PILOT_PANDAQUEUENOTACTIVE: 78,
        PILOT_COMMUNICATIONFAILURE: 79,
        PILOT_PROXYTOOSHORT: 80,
        PILOT_REACHEDMAXTIME: 81,
        PILOT_NOJOBSINPANDA: 82,
        PILOT_NOTONLINE: 83,
        PILOT_SIGINT: 130,
        PILOT_SIGQUIT: 131,
        PILOT_SIGBUS: 135,
        PILOT_KILLSIGNAL: 137,
        PILOT_USERKILL: 137,
        PILOT_SIGUSR1: 138,
        PILOT_SIGSEGV: 139,
        PILOT_SIGTERM: 143,
        PILOT_SIGXCPU: 152,
    }
)

# shell exit status -> pilot error code, shared with the factory. Where several codes share an exit the
# first listed above wins (68 -> NOPROXY, 137 -> KILLSIGNAL). 74 (JSON retrieval timeout) has no pilot code
# in the reference and maps to None; other 128+signal exits map to KILLSIGNAL in pilot_code_for_exit.
PILOT_CODE_FOR_EXIT: Mapping[int, int] = MappingProxyType(
    {
        64: PILOT_CVMFSISNOTALIVE,
        65: PILOT_GENERALERROR,
        66: PILOT_MKDIR,
        67: PILOT_NOSUCHFILE,
        68: PILOT_NOPROXY,
        69: PILOT_NOLOCALSPACE,
        70: PILOT_UNKNOWNEXCEPTION,
        71: PILOT_QUEUEDATA,
        72: PILOT_QUEUEDATANOTOK,
        73: PILOT_NOSOFTWAREDIR,
        75: PILOT_BLACKHOLE,
        76: PILOT_MIDDLEWAREIMPORTFAILURE,
        77: PILOT_MISSINGINPUTFILE,
        78: PILOT_PANDAQUEUENOTACTIVE,
        79: PILOT_COMMUNICATIONFAILURE,
        80: PILOT_PROXYTOOSHORT,
        81: PILOT_REACHEDMAXTIME,
        82: PILOT_NOJOBSINPANDA,
        83: PILOT_NOTONLINE,
        130: PILOT_SIGINT,
        131: PILOT_SIGQUIT,
        135: PILOT_SIGBUS,
        137: PILOT_KILLSIGNAL,
        138: PILOT_SIGUSR1,
        139: PILOT_SIGSEGV,
        143: PILOT_SIGTERM,
        152: PILOT_SIGXCPU,
    }
)


def _signal_name(exit_code: int) -> str | None:
    """The signal name behind a 128+N exit status, or None if it is not one."""
    if exit_code <= 128:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return None


def exit_meaning(code: int) -> str:
    """What a pilot (or wrapper) exit status means; 128+N is read as "killed by signal N"."""
    if code == EXIT_OK:
        return "success"
    known = PILOT_EXIT_CODES.get(code) or WRAPPER_EXIT_CODES.get(code)
    if known is not None:
        return known
    name = _signal_name(code)
    return f"killed by signal {name}" if name else f"unknown exit code {code}"


def pilot_code_for_exit(exit_code: int) -> int | None:
    """The pilot error code a factory records for a dead pilot's exit status; None when there is none."""
    code = PILOT_CODE_FOR_EXIT.get(exit_code)
    if code is None and _signal_name(exit_code) is not None:
        return PILOT_KILLSIGNAL
    return code


def exit_code_for_pilot(pilot_code: int) -> int:
    """The shell exit status a pilot ends with after a fatal pilot error (0 for no error)."""
    if pilot_code == 0:
        return EXIT_OK
    return EXIT_FOR_PILOT_CODE.get(pilot_code, EXIT_GENERAL_ERROR)
