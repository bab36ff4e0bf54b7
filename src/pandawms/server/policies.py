"""The policy of every route: which roles may call it, and which resource check runs on its ids.

One table, ``ROUTE_POLICIES`` (API path -> RoutePolicy); a path under /api/v1 missing from it is refused
(deny by default) and tests/unit/test_route_policies.py fails until every route has an entry or the
explicit ``PUBLIC`` mark. The monitor's pages share one policy (public or login, by configuration).
A check receives the request's JSON body (or None) and query and raises Forbidden; a ``pure`` check
(the pilot's queue on acquire) decides from the token and the body alone, without a database read.
The pilot's two hot calls also carry a ``parsed`` check: the same decision on the request the fast path
(server/fastpath.py) has already validated, so the gate reads no body for them and each is parsed once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from pandawms.core.access import (
    Action,
    JobFacts,
    Resource,
    owner_of_new,
    queue_refusal,
    refuse,
    rule_refusal,
    scope_add_refusal,
)
from pandawms.core.auth import Caller, Role
from pandawms.core.errors import InvalidInput
from pandawms.protocol import legacy_client, legacy_pilot, paths
from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
from pandawms.services.access import DispatchedQueues, check_jobs, check_rules, check_scopes, check_tasks

# a check raises Forbidden; a job check returns the facts it read (the gate keeps the dispatched ones)
Check = Callable[[Connection, Caller, Any, Mapping[str, str]], Sequence[JobFacts] | None]
IdsOf = Callable[[Any, Mapping[str, str]], list[int]]  # the job ids a request names
PureCheck = Callable[[Caller, Any], None]  # decides from the token and the body alone: no database read
Reader = Callable[[], AbstractContextManager[Connection]]  # Database.read
# the check on a validated request of the fast path: a reader for the facts, the cache of dispatched jobs
ParsedCheck = Callable[[Reader, DispatchedQueues, Caller, Any], None]

ALL = frozenset(Role)
HUMANS = frozenset({Role.USER, Role.PRODUCTION, Role.ADMIN})
PILOTS = frozenset({Role.PILOT, Role.PRODUCTION, Role.ADMIN})
FACTORIES = frozenset({Role.FACTORY, Role.ADMIN})
OPERATORS = frozenset({Role.PRODUCTION, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    resource: Resource
    action: Action
    roles: frozenset[Role] | None  # None: public, no token needed
    check: Check | None = None  # the resource policy on the request's ids (needs the body when ``body``)
    body: bool = False
    pure: PureCheck | None = None  # a check that reads no database (the gate runs it on the event loop)
    job_ids: IdsOf | None = None  # a pilot update's job ids: the gate answers from its dispatched cache
    parsed: ParsedCheck | None = None  # the same check on the fast path's validated request

    @property
    def public(self) -> bool:
        return self.roles is None

    @property
    def writes(self) -> bool:
        return self.action is not Action.READ


PUBLIC = RoutePolicy(Resource.SYSTEM, Action.READ, None)


def _ints(value: object, name: str) -> list[int]:
    if isinstance(value, bool) or not isinstance(value, int | list):
        raise InvalidInput(f"{name}: expected an integer or a list of integers", name)
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise InvalidInput(f"{name}: expected integers", name)
    return items


def _body_field(body: Any, *names: str) -> object:
    if not isinstance(body, dict):
        return None
    return next((body[n] for n in names if n in body), None)


def _body_ids(body: Any, _query: Mapping[str, str]) -> list[int]:
    value = _body_field(body, "job_ids", "jobId", "job_id")
    return [] if value is None else _ints(value, "job_ids")  # a missing field is the route's 422


def _list_ids(body: Any, _query: Mapping[str, str]) -> list[int]:
    """update_jobs_bulk: every well-formed ``job_id`` of ``job_list`` (bad entries are the route's)."""
    entries = _body_field(body, "job_list")
    if not isinstance(entries, list):
        return []
    ids = [e.get("job_id") for e in entries if isinstance(e, dict)]
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]


def _query_ids(_body: Any, query: Mapping[str, str]) -> list[int]:
    raw = query.get("job_id", "")
    return [int(raw)] if raw.isdigit() else []


def _jobs(action: Action, ids_of: IdsOf) -> Check:
    def check(conn: Connection, caller: Caller, body: Any, query: Mapping[str, str]) -> Sequence[JobFacts]:
        ids = ids_of(body, query)
        return check_jobs(conn, caller, action, ids) if ids else ()

    return check


def _task_in_body(conn: Connection, caller: Caller, body: Any, _query: Mapping[str, str]) -> None:
    value = _body_field(body, "jediTaskID", "task_id")
    if value is not None:
        check_tasks(conn, caller, Action.MANAGE, _ints(value, "jediTaskID"))


def _acquire_queue(caller: Caller, body: Any) -> None:
    queue = _body_field(body, "site_name", "siteName")
    if isinstance(queue, str):
        _may_acquire(caller, queue)


def _may_acquire(caller: Caller, queue: str) -> None:
    why = queue_refusal(caller, Action.ACQUIRE, queue)
    refuse("pilot acquire", [(queue, why)] if why else [])


def _acquire_parsed(_read: Reader, _seen: DispatchedQueues, caller: Caller, request: AcquireRequest) -> None:
    _may_acquire(caller, request.site_name)


def _update_parsed(read: Reader, seen: DispatchedQueues, caller: Caller, request: UpdateRequest) -> None:
    """A pilot's update: allowed at once for a job known dispatched to its queue, else read and decide."""
    ids = [request.job_id]
    if seen.allows(caller, ids):
        return
    with read() as conn:
        seen.learn(check_jobs(conn, caller, Action.UPDATE, ids))


def _scope_of(did: object) -> list[str]:
    """The scope of a ``scope:name`` text ([] when it is not one: the route's 400)."""
    if isinstance(did, str):
        scope, sep, name = did.partition(":")
        if sep and scope and name:
            return [scope]
    return []


def _scopes_of(items: object, key: str | None) -> list[str]:
    """The scopes of a list of DID texts (``key`` None) or of objects with a ``scope`` field."""
    if not isinstance(items, list):
        return []
    if key is None:
        return [s for i in items for s in _scope_of(i)]
    return [i[key] for i in items if isinstance(i, dict) and isinstance(i.get(key), str)]


# per catalog write: the scopes it writes in, from the body (Rucio: a dataset's scope for its content)
ScopesOf = Callable[[dict[str, Any]], list[str]]


def _new_dids(body: dict[str, Any]) -> list[str]:
    return _scopes_of(body.get("dids"), "scope")


def _did_texts(body: dict[str, Any]) -> list[str]:
    return _scopes_of(body.get("dids"), None)


def _parent(body: dict[str, Any]) -> list[str]:
    return _scope_of(body.get("did"))


def _dataset_and_files(body: dict[str, Any]) -> list[str]:
    """A dataset's new files are registered in their own scopes too (existing ones: did/attach)."""
    return [*_scope_of(body.get("dataset")), *_scopes_of(body.get("files"), "scope")]


def _file_texts(body: dict[str, Any]) -> list[str]:
    return _scopes_of(body.get("files"), None)


def _new_files(body: dict[str, Any]) -> list[str]:
    return _scopes_of(body.get("files"), "scope")


def _scopes_in_body(scopes_of: ScopesOf) -> Check:
    def check(conn: Connection, caller: Caller, body: Any, _query: Mapping[str, str]) -> None:
        if isinstance(body, dict) and (names := scopes_of(body)):
            check_scopes(conn, caller, Action.WRITE, names)

    return check


def _new_scope(caller: Caller, body: Any) -> None:
    scope, account = _body_field(body, "scope"), _body_field(body, "account")
    if isinstance(scope, str) and isinstance(account, str | None):
        why = scope_add_refusal(caller, scope, account or "")
        refuse("scope add", [(scope, why)] if why else [])


def _new_rule(caller: Caller, body: Any) -> None:
    account = _body_field(body, "account")
    if isinstance(account, str | None):
        why = rule_refusal(caller, owner_of_new(caller, account or "", scope=False))
        refuse("rule add", [("account", why)] if why else [])


def _rule_in_body(conn: Connection, caller: Caller, body: Any, _query: Mapping[str, str]) -> None:
    value = _body_field(body, "id")
    if isinstance(value, int) and not isinstance(value, bool):
        check_rules(conn, caller, [value])


def _p(
    resource: Resource,
    action: Action,
    roles: frozenset[Role],
    check: Check | None = None,
    *,
    pure: PureCheck | None = None,
    jobs: IdsOf | None = None,
    parsed: ParsedCheck | None = None,
) -> RoutePolicy:
    """A route's policy; ``jobs`` names the job ids its body (or query) carries, checked for ``action``."""
    if jobs is not None:
        check = _jobs(action, jobs)
    body = pure is not None or (check is not None and jobs is not _query_ids)
    job_ids = jobs if action is Action.UPDATE else None
    return RoutePolicy(resource, action, roles, check, body=body, pure=pure, job_ids=job_ids, parsed=parsed)


J, T, D, Q, W, L = (Resource.JOBS, Resource.TASKS, Resource.DATASETS, Resource.QUEUES, Resource.WORKERS,
                    Resource.LOGS)  # fmt: skip
R, S, M, A, U, WR = Action.READ, Action.SUBMIT, Action.MANAGE, Action.ACQUIRE, Action.UPDATE, Action.WRITE
_READ_DATA = _p(D, R, ALL)


def _catalog_write(scopes_of: ScopesOf) -> RoutePolicy:
    return _p(D, WR, HUMANS, _scopes_in_body(scopes_of))


_ADMIN_DATA = _p(D, WR, OPERATORS)

ROUTE_POLICIES: dict[str, RoutePolicy] = {
    paths.HEALTH: PUBLIC,
    paths.IS_ALIVE: PUBLIC,
    paths.READY: PUBLIC,  # readiness probe (load balancers)
    "/openapi.json": PUBLIC,
    "/docs": PUBLIC,
    paths.AUTH_TOKEN: PUBLIC,  # the grant itself (refresh token, device code) is the credential
    paths.AUTH_REVOKE: PUBLIC,  # possession of the refresh token is the credential
    paths.AUTH_DEVICE: PUBLIC,  # starts a device login; limited per client address (routes_device)
    paths.AUTH_WHOAMI: _p(Resource.SYSTEM, R, ALL),
    paths.AUDIT_LIST: _p(Resource.AUDIT, R, ADMINS),
    # jobs
    paths.JOB_SUBMIT: _p(J, S, HUMANS),  # labels and owner: routes_jobs.handle_submit
    paths.JOB_GET_STATUS: _p(J, R, ALL),
    paths.JOB_GET_DESCRIPTION: _p(J, R, ALL),
    paths.JOB_LIST: _p(J, R, ALL),
    paths.JOB_KILL: _p(J, M, HUMANS, jobs=_body_ids),
    paths.JOB_REASSIGN: _p(J, M, HUMANS, jobs=_body_ids),
    paths.JOB_RETRY: _p(J, M, HUMANS, jobs=_body_ids),
    paths.PILOT_ACQUIRE_JOBS: _p(J, A, PILOTS, pure=_acquire_queue, parsed=_acquire_parsed),
    paths.PILOT_UPDATE_JOB: _p(J, U, PILOTS, jobs=_body_ids, parsed=_update_parsed),
    paths.PILOT_UPDATE_JOBS_BULK: _p(J, U, PILOTS, jobs=_list_ids),
    paths.PILOT_GET_JOB_STATUS: _p(J, R, PILOTS),
    # queues
    paths.QUEUE_LIST: _p(Q, R, ALL),
    paths.QUEUE_GET: _p(Q, R, ALL),
    paths.QUEUE_UPSERT: _p(Q, WR, ADMINS),
    paths.QUEUE_SET_STATUS: _p(Q, WR, ADMINS),
    # logs
    paths.FILE_UPLOAD_LOG: _p(L, U, PILOTS, jobs=_query_ids),
    paths.FILE_DOWNLOAD_LOG: _p(L, R, ALL),
    # workers (the factory)
    paths.HARVESTER_ADD_WORKERS: _p(W, WR, FACTORIES),
    paths.HARVESTER_UPDATE_WORKERS: _p(W, WR, FACTORIES),
    paths.HARVESTER_GET_WORKER_STATS: _p(W, R, FACTORIES | OPERATORS),
    paths.HARVESTER_HEARTBEAT: _p(W, WR, FACTORIES),
    # data catalog and transfers
    paths.SCOPE_ADD: _p(D, WR, HUMANS, pure=_new_scope),
    paths.SCOPE_LIST: _READ_DATA,
    paths.DID_ADD: _catalog_write(_new_dids),
    paths.DID_GET: _READ_DATA,
    paths.DID_LIST: _READ_DATA,
    paths.DID_ADD_FILES: _catalog_write(_dataset_and_files),
    paths.DID_ATTACH: _catalog_write(_parent),
    paths.DID_DETACH: _catalog_write(_parent),
    paths.DID_LIST_CONTENTS: _READ_DATA,
    paths.DID_CLOSE: _catalog_write(_did_texts),
    paths.DID_FREEZE: _catalog_write(_did_texts),
    paths.DID_DELETE: _catalog_write(_did_texts),
    paths.DID_GET_FILES: _READ_DATA,
    paths.RSE_LIST: _READ_DATA,
    paths.RSE_UPSERT: _ADMIN_DATA,
    paths.RSE_DISTANCES: _READ_DATA,
    paths.RSE_SET_DISTANCES: _ADMIN_DATA,
    paths.REPLICA_LIST: _READ_DATA,
    paths.REPLICA_ADD: _catalog_write(_file_texts),
    paths.REPLICA_ADD_FILES: _catalog_write(_new_files),
    paths.REPLICA_DECLARE_BAD: _ADMIN_DATA,
    paths.RULE_ADD: _p(D, WR, HUMANS, pure=_new_rule),
    paths.RULE_GET: _READ_DATA,
    paths.RULE_LIST: _READ_DATA,
    paths.RULE_DELETE: _p(D, WR, HUMANS, _rule_in_body),
    paths.TRANSFER_LIST: _READ_DATA,
    paths.TRANSFER_SUMMARY: _READ_DATA,
    # tasks
    paths.TASK_SUBMIT: _p(T, S, HUMANS),  # labels and owner: routes_tasks.submit
    paths.TASK_GET_DETAILS: _p(T, R, ALL),
    paths.TASK_GET_STATUS: _p(T, R, ALL),
    paths.TASK_GET_PARAMETERS: _p(T, R, ALL),
    paths.TASK_GET_JOB_IDS: _p(T, R, ALL),
    paths.TASK_LIST: _p(T, R, ALL),
    **{
        p: _p(T, M, HUMANS, _task_in_body)
        for p in (
            paths.TASK_KILL,
            paths.TASK_FINISH,
            paths.TASK_RETRY,
            paths.TASK_PAUSE,
            paths.TASK_RESUME,
            paths.TASK_REASSIGN,
            paths.TASK_AVALANCHE,
        )
    },
}

# panda-client's calls that pandawms's own API has no path for (server/compat_client.py; hidden from the
# schema). Its shapes on shared paths (job/submit, task/*) pass the gate under the shared path's policy.
CLIENT_POLICIES: dict[str, RoutePolicy] = {
    legacy_client.JOB_GET_DESCRIPTION_INCL_ARCHIVE: _p(J, R, ALL),
    legacy_client.JOB_GET_METADATA: _p(J, R, ALL),
    legacy_client.TASK_DETAILED_INFO_SINCE: _p(T, R, ALL),
    legacy_client.FILE_UPLOAD_CACHE: _p(D, WR, HUMANS),
}
# PanDA's legacy pilot API (server/compat_pilot.py): same roles as the v1 pilot calls; the queue and
# job checks run in the handlers, after the form or JSON parameters are decoded
LEGACY_POLICIES: dict[str, RoutePolicy] = {
    legacy_pilot.GET_JOB: _p(J, A, PILOTS),
    legacy_pilot.UPDATE_JOB: _p(J, U, PILOTS),
    legacy_pilot.GET_STATUS: _p(J, R, PILOTS),
    legacy_pilot.GET_EVENT_RANGES: _p(J, R, PILOTS),
    legacy_pilot.UPDATE_EVENT_RANGES: _p(J, U, PILOTS),
    legacy_pilot.GET_PROXY: _p(Resource.SYSTEM, R, PILOTS),
    legacy_pilot.GET_KEY_PAIR: _p(Resource.SYSTEM, R, PILOTS),
    legacy_pilot.GET_RESOURCE_TYPES: _p(Resource.SYSTEM, R, PILOTS),
    legacy_pilot.UPDATE_WORKER_PILOT_STATUS: _p(W, WR, PILOTS),
    legacy_pilot.SET_DEBUG_MODE: _p(J, M, HUMANS),
    legacy_pilot.GET_ACCESS_TOKEN: _p(Resource.SYSTEM, R, PILOTS),
    # pilot3 3.11's one call under /api/v1, outside the v1 contract (not in the OpenAPI spec)
    paths.API_PREFIX + legacy_pilot.UPDATE_WORKER_NODE: _p(W, WR, PILOTS),
}
# queue and storage descriptions and the users' sandboxes: public, as PanDA's cache and CRIC are
LEGACY_CACHE = "/cache/"

MONITOR_PUBLIC = PUBLIC
MONITOR_LOGIN = RoutePolicy(Resource.JOBS, Action.READ, ALL)
DENIED = RoutePolicy(Resource.SYSTEM, Action.READ, frozenset())  # an API path nobody declared
WELL_KNOWN = "/.well-known/"
# panda login's verification page and the identity provider's redirect back: the person has no token yet
DEVICE_PAGES = frozenset({paths.DEVICE_PAGE, paths.DEVICE_COMPLETE})


def policy_for(path: str, monitor_login: bool) -> RoutePolicy:
    """The policy of a request path: the table for API paths, the monitor's for the rest."""
    if path in LEGACY_POLICIES:
        return LEGACY_POLICIES[path]
    if path.startswith(paths.API_PREFIX):
        sub = path[len(paths.API_PREFIX) :]
        return ROUTE_POLICIES.get(sub) or CLIENT_POLICIES.get(sub, DENIED)
    if path.startswith(legacy_pilot.LEGACY_PREFIX + "/"):
        return LEGACY_POLICIES.get(path, DENIED)
    if path in DEVICE_PAGES:
        return PUBLIC
    if path.startswith(WELL_KNOWN) or path.startswith(LEGACY_CACHE):
        return PUBLIC
    return MONITOR_LOGIN if monitor_login else MONITOR_PUBLIC
