"""The pilot's error codes (errors.md §3), one member per code: ``ACRONYM = code, phase, category,
"description"``. Names the reference groups ("SINGULARITY…", "RUCIO…", "REMOTEFILE…") are spelled out with
the Pilot's own constant names. Codes are never renumbered.
"""

from __future__ import annotations

from enum import unique
from typing import Self

from pandawms.protocol.errorcodes.catalog import CatalogCode, ErrorCategory, PilotPhase

_C = ErrorCategory
_P = PilotPhase


@unique
class PilotCode(CatalogCode):
    """Pilot error codes (`pilotErrorCode`); each also names the phase of the pilot's work it comes from."""

    phase: PilotPhase

    def __new__(cls, code: int, *row: object) -> Self:
        ph = row[0] if row else None
        if not isinstance(ph, PilotPhase):
            raise TypeError(f"{cls.__name__} {code}: phase {ph!r} is not a PilotPhase")
        member = cls._member(code, row[1:])
        member.phase = ph
        return member

    # setup
    GENERALERROR = 1008, _P.SETUP, _C.INTERNAL, "general pilot error"
    NOLOCALSPACE = 1098, _P.SETUP, _C.FILE_STORAGE, "local space <2 GB at start or <1 GB while running"
    SETUPFAILURE = 1110, _P.SETUP, _C.SOFTWARE, "payload setup failed"
    QUEUEDATA = 1116, _P.SETUP, _C.SOFTWARE, "queue configuration not obtainable"
    QUEUEDATANOTOK = 1117, _P.SETUP, _C.SOFTWARE, "queue configuration invalid"
    TRFDOWNLOADFAILURE = 1149, _P.SETUP, _C.SOFTWARE, "transform download failed"
    NOPROXY = 1163, _P.SETUP, _C.SOFTWARE, "grid proxy invalid"
    NOVOMSPROXY = 1177, _P.SETUP, _C.SOFTWARE, "VOMS proxy invalid"
    NOSOFTWAREDIR = 1186, _P.SETUP, _C.SOFTWARE, "software directory missing"
    MKDIR = 1199, _P.SETUP, _C.FILE_STORAGE, "cannot create directory"
    MISSINGINSTALLATION = 1211, _P.SETUP, _C.SOFTWARE, "release missing: installation not found"
    NORELEASEFOUND = 1244, _P.SETUP, _C.SOFTWARE, "release missing: no release candidates found"
    NOUSERTARBALL = 1246, _P.SETUP, _C.SOFTWARE, "user code not on the server: no user tarball"
    MISSINGUSERCODE = 1335, _P.SETUP, _C.SOFTWARE, "user code not on the server"
    SINGULARITYGENERALFAILURE = 1306, _P.SETUP, _C.SOFTWARE, "container runtime failure: general"
    SINGULARITYNOLOOPDEVICES = 1307, _P.SETUP, _C.SOFTWARE, "container runtime failure: loop devices"
    SINGULARITYBINDPOINTFAILURE = 1308, _P.SETUP, _C.SOFTWARE, "container runtime failure: bind point"
    SINGULARITYIMAGEMOUNTFAILURE = 1309, _P.SETUP, _C.SOFTWARE, "container runtime failure: image mount"
    SINGULARITYNEWUSERNAMESPACE = 1340, _P.SETUP, _C.SOFTWARE, "container runtime failure: user namespace"
    SINGULARITYFAILEDUSERNAMESPACE = 1345, _P.SETUP, _C.SOFTWARE, "container runtime failure: user namespace"
    SINGULARITYRESOURCEUNAVAILABLE = 1348, _P.SETUP, _C.SOFTWARE, "container runtime: resource unavailable"
    SINGULARITYNOTINSTALLED = 1325, _P.SETUP, _C.SOFTWARE, "container runtime missing: Singularity"
    APPTAINERNOTINSTALLED = 1372, _P.SETUP, _C.SOFTWARE, "container runtime missing: Apptainer"
    SETUPFATAL = 1334, _P.SETUP, _C.SOFTWARE, "fatal setup exception"
    BADQUEUECONFIGURATION = 1341, _P.SETUP, _C.SOFTWARE, "bad queue configuration"
    MIDDLEWAREIMPORTFAILURE = 1342, _P.SETUP, _C.SOFTWARE, "cannot import middleware (e.g. rucio)"
    TRANSFORMNOTFOUND = 1346, _P.SETUP, _C.SOFTWARE, "transform not found"
    MISSINGRELEASEUNPACKED = 1358, _P.SETUP, _C.SOFTWARE, "container image problem: release not unpacked"
    IMAGENOTFOUND = 1360, _P.SETUP, _C.SOFTWARE, "container image problem: image not found"
    PANDAQUEUENOTACTIVE = 1359, _P.SETUP, _C.INTERNAL, "queue not usable: not active"
    NOTONLINE = 1386, _P.SETUP, _C.INTERNAL, "queue not usable: not online"
    FRONTIER = 1369, _P.SETUP, _C.NETWORK, "conditions DB (Frontier) error"
    VOMSPROXYABOUTTOEXPIRE = 1370, _P.SETUP, _C.INTERNAL, "internal: obtain a new proxy"
    CERTIFICATEHASEXPIRED = 1373, _P.SETUP, _C.SOFTWARE, "credential lifetime: certificate has expired"
    PROXYTOOSHORT = 1382, _P.SETUP, _C.SOFTWARE, "credential lifetime: proxy too short"
    CVMFSISNOTALIVE = 1377, _P.SETUP, _C.SOFTWARE, "CVMFS not responding"
    QUEUENOTSETUPFORCONTAINERS = 1384, _P.SETUP, _C.SOFTWARE, "queue lacks container type"

    # stagein
    STAGEINFAILED = 1099, _P.STAGEIN, _C.FILE_STORAGE, "generic stage-in failure"
    REPLICANOTFOUND = 1100, _P.STAGEIN, _C.FILE_STORAGE, "replica not found"
    NOSUCHFILE = 1103, _P.STAGEIN, _C.FILE_STORAGE, "no such file"
    GETMD5MISMATCH = 1145, _P.STAGEIN, _C.FILE_STORAGE, "md5 mismatch on input"
    GETADMISMATCH = 1171, _P.STAGEIN, _C.FILE_STORAGE, "adler32 mismatch on input"
    STAGEINTIMEOUT = 1151, _P.STAGEIN, _C.FILE_STORAGE, "stage-in timed out (also looping during stage-in)"
    SIZETOOLARGE = 1168, _P.STAGEIN, _C.FILE_STORAGE, "total input too large"
    CHKSUMNOTSUP = 1242, _P.STAGEIN, _C.FILE_STORAGE, "checksum problem: checksum query not supported"
    UNKNOWNCHECKSUMTYPE = 1314, _P.STAGEIN, _C.FILE_STORAGE, "checksum problem: unknown checksum type"
    CHECKSUMCALCFAILURE = 1366, _P.STAGEIN, _C.FILE_STORAGE, "checksum problem: checksum calculation failed"
    NOSTORAGEPROTOCOL = 1313, _P.STAGEIN, _C.FILE_STORAGE, "no protocol for the endpoint"
    RUCIOSERVICEUNAVAILABLE = 1316, _P.STAGEIN, _C.NETWORK, "Rucio: catalogue unavailable"
    RUCIOLOCATIONFAILED = 1321, _P.STAGEIN, _C.FILE_STORAGE, "Rucio: client location failed"
    RUCIOLISTREPLICASFAILED = 1322, _P.STAGEIN, _C.FILE_STORAGE, "Rucio: replica listing failed"
    NOREPLICAS = 1326, _P.STAGEIN, _C.FILE_STORAGE, "no matching replicas"
    UNREACHABLENETWORK = 1327, _P.STAGEIN, _C.NETWORK, "network unreachable"
    MISSINGINPUTFILE = 1331, _P.STAGEIN, _C.FILE_STORAGE, "input missing on storage"
    STAGEINAUTHENTICATIONFAILURE = 1338, _P.STAGEIN, _C.FILE_STORAGE, 'stage-in "Cannot authenticate"'
    REMOTEFILECOULDNOTBEOPENED = 1361, _P.STAGEIN, _C.FILE_STORAGE, "direct access: remote file not opened"
    XRDCPERROR = 1362, _P.STAGEIN, _C.FILE_STORAGE, "direct access: xrdcp could not open the file"
    REMOTEFILEOPENTIMEDOUT = 1368, _P.STAGEIN, _C.FILE_STORAGE, "direct access: remote file open timed out"
    REMOTEFILEDICTDOESNOTEXIST = 1374, _P.STAGEIN, _C.FILE_STORAGE, "direct access: remote file dict missing"
    LSETUPTIMEDOUT = 1378, _P.STAGEIN, _C.FILE_STORAGE, "direct access: lsetup timed out"
    MISSINGCREDENTIALS = 1364, _P.STAGEIN, _C.FILE_STORAGE, "S3 credentials missing"

    # payload
    NOPAYLOADMETADATA = 1187, _P.PAYLOAD, _C.RUNTIME, "payload wrote no metadata/summary file"
    PAYLOADOUTOFMEMORY = 1212, _P.PAYLOAD, _C.RUNTIME, "payload out of memory"
    UNKNOWNPAYLOADFAILURE = 1220, _P.PAYLOAD, _C.RUNTIME, "unknown failure (also the ES failed-range code)"
    BADALLOC = 1223, _P.PAYLOAD, _C.RUNTIME, "std::bad_alloc"
    PAYLOADEXECUTIONFAILURE = 1305, _P.PAYLOAD, _C.RUNTIME, "payload exited with a non-zero code"
    PAYLOADEXECUTIONEXCEPTION = 1310, _P.PAYLOAD, _C.RUNTIME, "exception while running the payload"
    UNKNOWNTRFFAILURE = 1315, _P.PAYLOAD, _C.RUNTIME, "unknown transform failure (exit 251 / -1)"
    PAYLOADSIGSEGV = 1328, _P.PAYLOAD, _C.RUNTIME, "payload segfault"
    NOOUTPUTINJOBREPORT = 1343, _P.PAYLOAD, _C.RUNTIME, "payload summary lists no output"
    RESOURCEUNAVAILABLE = 1344, _P.PAYLOAD, _C.RUNTIME, "resource temporarily unavailable"
    UNRECOGNIZEDTRFARGUMENTS = 1349, _P.PAYLOAD, _C.RUNTIME, "bad transform arguments"
    UNRECOGNIZEDTRFSTDERR = 1351, _P.PAYLOAD, _C.RUNTIME, "fatal error in transform stderr"
    STATFILEPROBLEM = 1352, _P.PAYLOAD, _C.INTERNAL, "CPU accounting failure: cannot stat proc file"
    NOSUCHPROCESS = 1353, _P.PAYLOAD, _C.INTERNAL, "CPU accounting failure: no such process"
    GENERALCPUCALCPROBLEM = 1354, _P.PAYLOAD, _C.INTERNAL, "CPU accounting failure: general problem"
    COREDUMP = 1355, _P.PAYLOAD, _C.RUNTIME, "core dump found"
    PREPROCESSFAILURE = 1356, _P.PAYLOAD, _C.RUNTIME, "pre-process failed"
    POSTPROCESSFAILURE = 1357, _P.PAYLOAD, _C.RUNTIME, "post-process failed"
    COMMANDTIMEDOUT = 1367, _P.PAYLOAD, _C.RUNTIME, "command timeout"

    # stageout
    OUTPUTFILETOOLARGE = 1124, _P.STAGEOUT, _C.FILE_STORAGE, "output file larger than 500 GB"
    NOSTORAGE = 1133, _P.STAGEOUT, _C.FILE_STORAGE, "no output RSE for the activity"
    STAGEOUTFAILED = 1137, _P.STAGEOUT, _C.FILE_STORAGE, "generic stage-out failure"
    PUTMD5MISMATCH = 1141, _P.STAGEOUT, _C.FILE_STORAGE, "md5 mismatch after upload"
    PUTADMISMATCH = 1172, _P.STAGEOUT, _C.FILE_STORAGE, "adler32 mismatch after upload"
    STAGEOUTTIMEOUT = 1152, _P.STAGEOUT, _C.FILE_STORAGE, "stage-out timed out"
    MISSINGOUTPUTFILE = 1165, _P.STAGEOUT, _C.FILE_STORAGE, "expected output absent"
    LFNTOOLONG = 1190, _P.STAGEOUT, _C.FILE_STORAGE, "LFN longer than 255 characters"
    ZEROFILESIZE = 1191, _P.STAGEOUT, _C.FILE_STORAGE, "empty output: zero file size"
    EMPTYOUTPUTFILE = 1350, _P.STAGEOUT, _C.FILE_STORAGE, "empty output file"
    FILEEXISTS = 1221, _P.STAGEOUT, _C.FILE_STORAGE, "file already exists"
    NONDETERMINISTICDDM = 1329, _P.STAGEOUT, _C.FILE_STORAGE, "cannot build SURL on a non-deterministic RSE"
    NOREMOTESPACE = 1333, _P.STAGEOUT, _C.FILE_STORAGE, "destination full"
    BADOUTPUTFILENAME = 1371, _P.STAGEOUT, _C.FILE_STORAGE, "output file name has illegal characters"
    STAGEOUTAUTHENTICATIONFAILURE = 1383, _P.STAGEOUT, _C.FILE_STORAGE, "stage-out authentication failure"
    LOGFILECREATIONFAILURE = 1320, _P.STAGEOUT, _C.FILE_STORAGE, "log tarball creation failed"
    LOGCREATIONTIMEOUT = 1376, _P.STAGEOUT, _C.FILE_STORAGE, "log tarball creation timed out"

    # limits
    USERDIRTOOLARGE = 1104, _P.LIMITS, _C.RUNTIME, "work directory above the queue cap (maxwdir)"
    STDOUTTOOBIG = 1106, _P.LIMITS, _C.RUNTIME, "a payload log above 2 GB (zipped, job killed)"
    LOOPINGJOB = 1150, _P.LIMITS, _C.RUNTIME, "no file in the workdir modified for 2 h"
    REACHEDMAXTIME = 1213, _P.LIMITS, _C.TERMINATION, "pilot max time / job walltime / machine shutdown"
    PAYLOADEXCEEDMAXMEM = 1235, _P.LIMITS, _C.RUNTIME, "payload maxPSS above the memory limit"
    BADMEMORYMONITORJSON = 1337, _P.LIMITS, _C.INTERNAL, "memory monitor output unreadable"
    BLACKHOLE = 1332, _P.LIMITS, _C.FILE_STORAGE, "black-hole file system"

    # killed
    PANDAKILL = 1144, _P.KILLED, _C.TERMINATION, "killed by the server (answered tobekilled)"
    KILLSIGNAL = 1200, _P.KILLED, _C.TERMINATION, "killed by an unknown signal"
    SIGTERM = 1201, _P.KILLED, _C.TERMINATION, "signal received: SIGTERM"
    SIGQUIT = 1202, _P.KILLED, _C.TERMINATION, "signal received: SIGQUIT"
    SIGSEGV = 1203, _P.KILLED, _C.TERMINATION, "signal received: SIGSEGV"
    SIGXCPU = 1204, _P.KILLED, _C.TERMINATION, "signal received: SIGXCPU"
    USERKILL = 1205, _P.KILLED, _C.TERMINATION, "signal received: killed by the user"
    SIGBUS = 1206, _P.KILLED, _C.TERMINATION, "signal received: SIGBUS"
    SIGUSR1 = 1207, _P.KILLED, _C.TERMINATION, "signal received: SIGUSR1"
    SIGINT = 1208, _P.KILLED, _C.TERMINATION, "signal received: SIGINT"
    EXECUTEDCLONEJOB = 1234, _P.KILLED, _C.TERMINATION, "clone already executed elsewhere"
    FAILEDBYSERVER = 1236, _P.KILLED, _C.TERMINATION, "failed by server (factory worker kills)"
    JOBALREADYRUNNING = 1336, _P.KILLED, _C.TERMINATION, "job running elsewhere"
    PREEMPTION = 1379, _P.KILLED, _C.TERMINATION, "preempted (SIGTERM on Kubernetes)"

    # communication
    EXCEEDEDMAXWAITTIME = 1317, _P.COMMUNICATION, _C.NETWORK, "3 h without a successful update"
    COMMUNICATIONFAILURE = 1318, _P.COMMUNICATION, _C.NETWORK, "server unreachable"
    SERVICENOTAVAILABLE = 1324, _P.COMMUNICATION, _C.NETWORK, "service unreachable"

    # internal
    UNKNOWNEXCEPTION = 1301, _P.INTERNAL, _C.INTERNAL, "internal: unknown pilot exception"
    INTERNALPILOTPROBLEM = 1319, _P.INTERNAL, _C.INTERNAL, "internal pilot problem"
    NOJOBSINPANDA = 1385, _P.INTERNAL, _C.INTERNAL, "internal: no jobs (HPC, >= 5 empty getJob)"

    # eventservice
    ESRECOVERABLE = 1224, _P.EVENTSERVICE, _C.INTERNAL, "Event Service: recoverable error"
    ESFATAL = 1228, _P.EVENTSERVICE, _C.INTERNAL, "Event Service: fatal error"
    ESNOEVENTS = 1238, _P.EVENTSERVICE, _C.INTERNAL, "Event Service: no events"


# Stage-out codes after which the job may go to holding instead of failed (errors.md §3.4), and the input
# codes the Event Service treats as corrupted input (1099 only as possibly temporary, §3.6). 1135, 1136,
# 1175 and 1181 have no name in the reference, so they are listed here but have no catalog entry.
PILOT_RECOVERABLE_CODES: frozenset[int] = frozenset(
    {1135, 1136, PilotCode.STAGEOUTFAILED, PilotCode.PUTMD5MISMATCH, PilotCode.STAGEOUTTIMEOUT, 1181}
)
PILOT_ES_CORRUPTED_INPUT_CODES: frozenset[int] = frozenset(
    {PilotCode.GETADMISMATCH, PilotCode.GETMD5MISMATCH, 1175, PilotCode.NOSUCHFILE}
)
PILOT_ES_TEMPORARY_INPUT_CODES: frozenset[int] = frozenset({PilotCode.STAGEINFAILED})
