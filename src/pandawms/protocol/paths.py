"""URL paths of API v1 (reference protocol.md §2 and §8 names: /api/v1/<module>/<method>)."""

API_PREFIX = "/api/v1"

HEALTH = "/health"
READY = "/ready"
IS_ALIVE = "/system/is_alive"

JOB_SUBMIT = "/job/submit"
JOB_GET_STATUS = "/job/get_status"
JOB_GET_DESCRIPTION = "/job/get_description"
JOB_LIST = "/job/list"
JOB_KILL = "/job/kill"
JOB_REASSIGN = "/job/reassign"
JOB_RETRY = "/job/retry"

PILOT_ACQUIRE_JOBS = "/pilot/acquire_jobs"
PILOT_UPDATE_JOB = "/pilot/update_job"
PILOT_UPDATE_JOBS_BULK = "/pilot/update_jobs_bulk"  # PanDA's updateJobsInBulk (a factory for its pilots)
PILOT_GET_JOB_STATUS = "/pilot/get_job_status"

QUEUE_LIST = "/queue/list"
QUEUE_GET = "/queue/get"
QUEUE_UPSERT = "/queue/upsert"
QUEUE_SET_STATUS = "/queue/set_status"

FILE_UPLOAD_LOG = "/file_server/upload_log"
FILE_DOWNLOAD_LOG = "/file_server/download_log"

HARVESTER_ADD_WORKERS = "/harvester/add_workers"
HARVESTER_UPDATE_WORKERS = "/harvester/update_workers"
HARVESTER_GET_WORKER_STATS = "/harvester/get_worker_stats"
HARVESTER_HEARTBEAT = "/harvester/heartbeat"

# Data catalog (Rucio's nouns as PanDA-style <module>/<method>; models in protocol/data.py and rses.py)
SCOPE_ADD = "/scope/add"
SCOPE_LIST = "/scope/list"
DID_ADD = "/did/add"
DID_GET = "/did/get"
DID_LIST = "/did/list"
DID_ADD_FILES = "/did/add_files"
DID_ATTACH = "/did/attach"
DID_DETACH = "/did/detach"
DID_LIST_CONTENTS = "/did/list_contents"
DID_CLOSE = "/did/close"
DID_FREEZE = "/did/freeze"
DID_DELETE = "/did/delete"
RSE_LIST = "/rse/list"
RSE_UPSERT = "/rse/upsert"
RSE_DISTANCES = "/rse/distances"
RSE_SET_DISTANCES = "/rse/set_distances"
REPLICA_LIST = "/replica/list"
REPLICA_ADD = "/replica/add"
# panda upload / download (protocol/uploads.py)
DID_GET_FILES = "/did/get_files"
REPLICA_ADD_FILES = "/replica/add_files"

# Transfer service (Rucio's rules and requests; models in protocol/transfers.py)
RULE_ADD = "/rule/add"
RULE_GET = "/rule/get"
RULE_LIST = "/rule/list"
RULE_DELETE = "/rule/delete"
TRANSFER_LIST = "/transfer/list"
TRANSFER_SUMMARY = "/transfer/summary"
REPLICA_DECLARE_BAD = "/replica/declare_bad"

# JEDI tasks (PanDA's task/<method>; models in protocol/tasks.py and protocol/task_commands.py)
TASK_SUBMIT = "/task/submit"
TASK_GET_DETAILS = "/task/get_details"
TASK_GET_STATUS = "/task/get_status"
TASK_GET_PARAMETERS = "/task/get_task_parameters"
TASK_GET_JOB_IDS = "/task/get_job_ids"
TASK_LIST = "/task/list"
TASK_KILL = "/task/kill"
TASK_FINISH = "/task/finish"
TASK_RETRY = "/task/retry"
TASK_PAUSE = "/task/pause"
TASK_RESUME = "/task/resume"
TASK_REASSIGN = "/task/reassign"
TASK_AVALANCHE = "/task/avalanche"

# Security (issue 11; models in protocol/auth.py). The JWKS and discovery document sit at the root.
JWKS = "/.well-known/jwks.json"
OIDC_CONFIGURATION = "/.well-known/openid-configuration"
AUTH_TOKEN = "/auth/token"
AUTH_REVOKE = "/auth/revoke"
AUTH_WHOAMI = "/auth/whoami"
AUTH_DEVICE = "/auth/device"  # POST under the API prefix: start a device login (RFC 8628)
DEVICE_PAGE = "/auth/device"  # at the root: the verification page the user opens in a browser
DEVICE_COMPLETE = "/auth/device/complete"  # at the root: the identity provider's redirect back
AUDIT_LIST = "/audit/list"
