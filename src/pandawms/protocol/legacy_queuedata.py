"""The queue and storage descriptions pilot3 reads instead of CRIC, made from pandawms's configuration.

``schedconfig``: one queue as PanDA's cache serves it (``/cache/schedconfig/<queue>.all.json``, pilot3's
``--queuedata-url``; CRIC's ``<queue>.json`` is the same dict under the queue's name). ``ddmendpoints``:
the RSEs as CRIC's ``ddmendpoints.json`` (pilot3's ``--storagedata-url``), with one protocol per RSE
from its URL prefix. References: pilot3 pilot/info/queuedata.py, storagedata.py, extinfo.py,
api/data.py (``resolve_protocols``, ``resolve_surl``), copytool/mv.py.

Stage-in and stage-out with pilot3 on a local (``file://``) RSE use its ``mv`` copytool with the
``mv_final_destination`` catchall: outputs are moved to the RSE at Rucio's deterministic path (what
pilot3 computes: ``<scope parts>/<md5[0:2]>/<md5[2:4]>/<lfn>``) and reported with that surl, which the
Adder registers as the replica's path; inputs are linked from the same layout below the pilot's
``--input-destination-dir``. Its other copytools (rucio, xrdcp, gfal, lsm, objectstore, s3) look
replicas up in Rucio or call Rucio's tools, so ``root://`` and ``s3://`` RSEs are described (for
reading the description) but not staged by pilot3 here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pandawms.core.data import RSESpec
from pandawms.core.specs import QueueSpec, QueueStatus

LOCAL_COPYTOOL = "mv"
MV_FINAL_DESTINATION = "mv_final_destination"  # pilot3's catchall switch: mv to and from the RSE itself
READ_ACTIVITIES = ("read_lan", "read_wan", "pr", "r")
WRITE_ACTIVITIES = ("write_lan", "write_wan", "pw", "w")


def rucio_path(scope: str, lfn: str) -> str:
    """Where pilot3 puts (and looks for) a file below an RSE's path: Rucio's deterministic hash layout,
    as pilot3 spells it (every dot of the scope a directory)."""
    digest = hashlib.md5(f"{scope}:{lfn}".encode(), usedforsecurity=False).hexdigest()
    parts = [*scope.split("."), digest[0:2], digest[2:4], lfn]
    return "/".join(p for p in parts if p)


def protocol(rse: RSESpec) -> dict[str, Any]:
    """The RSE's prefix as a CRIC protocol: endpoint (scheme://host) and path. A local directory is
    ``file://localhost`` + path, the form pilot3's mv copytool strips to a local path."""
    parts = urlsplit(rse.prefix)
    endpoint = "file://localhost" if parts.scheme == "file" else f"{parts.scheme}://{parts.netloc}"
    return {
        "endpoint": endpoint,
        "path": parts.path.rstrip("/") or "/",
        "flavour": parts.scheme.upper(),
        "id": 0,
    }


def local_path(rse: RSESpec) -> str | None:
    """The directory of a ``file://`` RSE (pilot3's --input-destination-dir), else None."""
    parts = urlsplit(rse.prefix)
    return parts.path.rstrip("/") or "/" if parts.scheme == "file" else None


def ddmendpoint(rse: RSESpec, number: int) -> dict[str, Any]:
    """One RSE as CRIC describes a DDM endpoint (the keys pilot3's StorageData reads)."""
    proto = protocol(rse) | {"id": number}
    readable = list(READ_ACTIVITIES) if rse.availability_read else []
    writable = list(WRITE_ACTIVITIES) if rse.availability_write else []
    return {
        "id": number,
        "name": rse.name,
        "site": rse.site,
        "rc_site": rse.site,
        "type": rse.kind.value.upper(),
        "token": "",
        "is_deterministic": True,
        "state": "ACTIVE",
        "arprotocols": {a: [proto] for a in readable + writable},
        "rprotocols": {"0": proto | {"activities": readable + writable}},
        "resource": {"endpoint": proto["endpoint"]},
    }


def ddmendpoints(rses: Sequence[RSESpec]) -> dict[str, dict[str, Any]]:
    return {r.name: ddmendpoint(r, n) for n, r in enumerate(sorted(rses, key=lambda r: r.name), start=1)}


def schedconfig(queue: QueueSpec, rses: Sequence[RSESpec]) -> dict[str, Any]:
    """One queue as pilot3 reads it from PanDA's cache / CRIC (pilot/info/queuedata.py keys)."""
    known = {r.name: r for r in rses}
    read = [n for n in (queue.ddm_input,) if n in known]
    write = [n for n in (queue.ddm_output,) if n in known]
    tools = _copytools(queue, [known[n] for n in read + write])
    return {
        "name": queue.name,
        "nickname": queue.name,
        "panda_resource": queue.name,
        "atlas_site": queue.site,
        "site": queue.site,
        "state": "ACTIVE",  # pilot3 refuses a queue that is not; pandawms's status says the rest
        "status": "online" if queue.status is QueueStatus.ONLINE else queue.status.value,
        "type": "production",
        "resource_type": "GRID",
        "corecount": queue.cores,
        "maxrss": queue.max_memory_per_core * queue.cores,
        "maxtime": queue.max_walltime,
        "maxwdir": queue.max_disk,
        "maxinputsize": -1,  # pandawms checks disk at dispatch; -1 = pilot3 skips its own check
        "timefloor": 0,
        "pledgedcpu": 0,
        "copytools": {t: {"setup": ""} for t in tools},
        "acopytools": {"pr": tools, "pw": tools, "pl": tools, "default": tools},
        "astorages": {"pr": read, "read_lan": read, "pw": write, "write_lan": write, "pl": write},
        "aprotocols": {},
        "acopytools_schemas": {},
        "catchall": MV_FINAL_DESTINATION if LOCAL_COPYTOOL in tools else "",
        "direct_access_lan": False,
        "direct_access_wan": False,
        "allow_lan": True,
        "allow_wan": False,
        "is_cvmfs": False,
        "use_pcache": False,
        "container_type": "",
        "container_options": "",
        "environ": "",
        "appdir": "",
        "cmtconfig": "",
        "params": {},
        "description": queue.description,
    }


def _copytools(queue: QueueSpec, rses: Sequence[RSESpec]) -> list[str]:
    """pilot3's copytool for the queue's storage: mv for local RSEs (the only one that works here
    without Rucio); the queue's own copy_tool when pilot3 knows it (xrdcp, gfal, rucio, ...)."""
    if not rses or any(local_path(r) is not None for r in rses):
        return [LOCAL_COPYTOOL]
    return [queue.copy_tool]
