"""The data pages: datasets and containers (BigPanDA's /datasets/ and /dataset/), and RSEs.

Each builder reads one keyset page and the facts of that page only (db/monitor_data.py). Bad parameters
raise InvalidInput naming the parameter (HTTP 400); an unknown dataset or RSE is NotFound (404).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Connection

from pandawms.core.data import DID, DIDRecord, DIDType, RSESpec, parse_did
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.states import DatasetStatus, ReplicaStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import monitor_data as mdd
from pandawms.db import rses as rses_db
from pandawms.monitor.common import link, selection_out
from pandawms.monitor.models_data import (
    DatasetJobOut,
    DatasetPage,
    DatasetRow,
    DatasetsPage,
    FileRow,
    ReplicaStateRow,
    RSEPage,
    RSEQueue,
    RSERow,
    RSEShare,
    RSEsPage,
)
from pandawms.monitor.pages_transfers import (
    RECENT,
    dataset_rules,
    rse_activity,
    rse_rules,
    transfer_errors,
)
from pandawms.monitor.params import Window, parse_int

DATASET_PARAMS = frozenset({"scope", "name", "state", "type", "cursor", "display_limit"})
DATASET_PAGE_PARAMS = frozenset({"cursor", "display_limit"})
ANY_TIME = Window(None, None, "catalog now", None)
JOBS_SHOWN = 100
REPLICA_STATES = tuple(s.value for s in ReplicaStatus)


def dataset_url(did: DID) -> str:
    return f"/dataset/{quote(str(did), safe=':')}/"


def rse_url(name: str) -> str:
    return f"/rse/{quote(name, safe='')}/"


def parse_dataset(raw: str, name: str = "did") -> DID:
    """``scope:name`` from a URL; InvalidInput naming ``name``."""
    try:
        return parse_did(raw, name)
    except InvalidInput as exc:
        message = str(exc)
        raise InvalidInput(
            message if message.startswith(f"{name}:") else f"{name}: {message}", name
        ) from None


def _choices(params: Mapping[str, str], name: str, valid: Sequence[str]) -> list[str]:
    """``a|b`` of the values in ``valid``; anything else is InvalidInput naming ``name``."""
    raw = params.get(name)
    if raw is None:
        return []
    chosen = [part.strip() for part in raw.split("|")]
    for value in chosen:
        if value not in valid:
            raise InvalidInput(f"{name}: unknown value {value!r}; valid: {', '.join(valid)}", name)
    return chosen


def _filter(params: Mapping[str, str]) -> mdd.DIDFilter:
    scope = params.get("scope")
    if scope is not None:
        try:
            DID(scope, "x")
        except InvalidInput as exc:
            raise InvalidInput(f"scope: {exc}", "scope") from None
    name = params.get("name")
    if name is not None and not all(ch.isalnum() or ch in "_.-*" for ch in name):
        raise InvalidInput(f"name: {name!r}: letters, digits, '_', '.', '-' and '*' as wildcard", "name")
    states = _choices(params, "state", [s.value for s in DatasetStatus])
    types = _choices(params, "type", [DIDType.DATASET.value, DIDType.CONTAINER.value])
    return mdd.DIDFilter(scope, name, tuple(map(DatasetStatus, states)), tuple(map(DIDType, types)))


def _rows(conn: Connection, records: Sequence[DIDRecord]) -> list[DatasetRow]:
    vols = mdd.volumes(conn, records)
    shares = mdd.available_by_rse(conn, [r.did for r in records if r.did_type is DIDType.DATASET])
    out = []
    for rec in records:
        vol = vols[rec.did]
        here = shares.get(rec.did, {})
        replicas = [
            RSEShare(rse=rse, files=n, complete=n == vol.files, url=rse_url(rse))
            for rse, n in sorted(here.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        out.append(
            DatasetRow(
                did=str(rec.did),
                scope=rec.did.scope,
                name=rec.did.name,
                type=rec.did_type.value,
                state=rec.status.value,
                children=vol.children,
                files=vol.files,
                bytes=vol.bytes,
                created_at=rec.created_at,
                updated_at=rec.modification_time,
                url=dataset_url(rec.did),
                replicas=replicas,
            )
        )
    return out


def _display(params: Mapping[str, str]) -> int:
    return parse_int(params, "display_limit", 100, 1, 1000)


def _cursor(params: Mapping[str, str]) -> DID | None:
    raw = params.get("cursor")
    return parse_dataset(raw, "cursor") if raw is not None else None


def datasets_page(conn: Connection, params: Mapping[str, str], _now: datetime) -> DatasetsPage:
    flt, display, after = _filter(params), _display(params), _cursor(params)
    records = mdd.list_dids(conn, flt, after, display + 1)
    next_url = None
    if len(records) > display:
        next_url = link("/datasets/", params, cursor=str(records[display - 1].did))
    shown = [f"{k}={v}" for k, v in params.items() if k in DATASET_PARAMS - {"cursor"}]
    description = "datasets and containers " + (" ".join(shown) if shown else "(all)")
    return DatasetsPage(
        selection=selection_out(params, ANY_TIME, description),
        datasets=_rows(conn, records[:display]),
        next_url=next_url,
    )


def _replica_rows(counts: Sequence[mdd.ReplicaCount], files: int) -> list[ReplicaStateRow]:
    by_rse: dict[str, ReplicaStateRow] = {}
    for c in counts:
        row = by_rse.setdefault(
            c.rse,
            ReplicaStateRow(rse=c.rse, url=rse_url(c.rse), counts={}, bytes={}, complete=False),
        )
        row.counts[c.status] = c.count
        row.bytes[c.status] = c.bytes
    for row in by_rse.values():
        row.complete = files > 0 and row.counts.get(ReplicaStatus.AVAILABLE.value, 0) == files
    return sorted(by_rse.values(), key=lambda r: (not r.complete, r.rse))


def _jobs(conn: Connection, did: DID) -> tuple[list[DatasetJobOut], int]:
    found, total = mdd.dataset_jobs(conn, did, JOBS_SHOWN)
    out = [
        DatasetJobOut(
            panda_id=j.panda_id,
            job_status=j.job_status,
            computing_site=j.computing_site,
            prod_user_name=j.prod_user_name,
            modification_time=j.modification_time,
            types=list(j.types),
            files=j.files,
            url=f"/job/{j.panda_id}/",
        )
        for j in found
    ]
    return out, total


def dataset_page(conn: Connection, raw: str, params: Mapping[str, str], _now: datetime) -> DatasetPage:
    did = parse_dataset(raw)
    display, after = _display(params), _cursor(params)
    rec = catalog_db.get_did(conn, did)
    if rec is None:
        raise NotFound(f"dataset {did} not found")
    [row] = _rows(conn, [rec])
    children = catalog_db.list_contents(conn, did, after, display + 1)
    next_url = None
    if len(children) > display:
        next_url = link(dataset_url(did), params, cursor=str(children[display - 1].did))
    children = children[:display]
    files = [
        FileRow(
            scope=c.did.scope, lfn=c.did.name, guid=f.guid, bytes=f.bytes, adler32=f.adler32, events=f.events
        )
        for c in children
        if (f := c.file) is not None
    ]
    boxed = catalog_db.get_dids(conn, [c.did for c in children if c.did_type is DIDType.DATASET])
    jobs, total = _jobs(conn, did)
    return DatasetPage(
        selection=selection_out(params, ANY_TIME, f"{rec.did_type.value} {did}"),
        dataset=row,
        files=files,
        next_url=next_url,
        replicas=_replica_rows(mdd.dataset_replicas(conn, did), row.files),
        jobs=jobs,
        jobs_total=total,
        datasets=_rows(conn, [boxed[d] for d in sorted(boxed)]),
        parents=[str(p.did) for p in catalog_db.parents(conn, did)],
        rules=dataset_rules(conn, did),
    )


def _rse_row(spec: RSESpec, counts: Mapping[str, int]) -> RSERow:
    replicas = {s: counts.get(s, 0) for s in REPLICA_STATES}
    return RSERow(**asdict(spec) | {"kind": spec.kind.value}, replicas=replicas, url=rse_url(spec.name))


def rses_page(conn: Connection, params: Mapping[str, str], now: datetime) -> RSEsPage:
    counts: dict[str, dict[str, int]] = {}
    for c in mdd.replica_counts(conn):
        counts.setdefault(c.rse, {})[c.status] = c.count
    activity = rse_activity(conn, now)
    rows = [
        _rse_row(s, counts.get(s.name, {})).model_copy(update={"transfers": activity.get(s.name)})
        for s in rses_db.list_all(conn)
    ]
    return RSEsPage(
        selection=selection_out(params, ANY_TIME, "storage elements (RSEs)"),
        rses=rows,
        recent_seconds=int(RECENT.total_seconds()),
        errors=transfer_errors(conn),
    )


def rse_page(conn: Connection, name: str, params: Mapping[str, str], now: datetime) -> RSEPage:
    spec = rses_db.get(conn, name)
    if spec is None:
        raise NotFound(f"RSE {name} not found")
    counts = {c.status: c.count for c in mdd.replica_counts(conn, name)}
    queues = [
        RSEQueue(queue=q, use=use, status=st, url=f"/site/{quote(q, safe='')}/")
        for q, use, st in mdd.queues_of_rse(conn, name)
    ]
    return RSEPage(
        selection=selection_out(params, ANY_TIME, f"RSE {name} at {spec.site}"),
        rse=_rse_row(spec, counts).model_copy(update={"transfers": rse_activity(conn, now).get(name)}),
        queues=queues,
        recent_seconds=int(RECENT.total_seconds()),
        rules=rse_rules(conn, name),
        errors=transfer_errors(conn, name),
    )
