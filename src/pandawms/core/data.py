"""Catalog value objects in Rucio's vocabulary: DIDs (``scope:name``), files, RSEs, site distances.

Every constructor validates: a bad value raises InvalidInput naming the field and the value, so nothing
malformed reaches the task buffer. ``nearby`` is the pure rule for reading storage of another site.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pandawms.core.checksums import Adler32
from pandawms.core.errors import InvalidInput
from pandawms.core.states import DatasetStatus

# Rucio's default naming schema: scopes up to 25 characters, names up to 250, RSE names upper case.
SCOPE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,25}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")
RSE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,63}$")
SITE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
URL_PREFIX_RE = re.compile(r"^[a-z][a-z0-9+.\-]*://\S*$")
# 0: the same site; up to NEARBY_DISTANCE: read in place (direct access); further: transfer first.
NEARBY_DISTANCE = 1


class DIDType(StrEnum):
    FILE = "file"
    DATASET = "dataset"
    CONTAINER = "container"


class RSEKind(StrEnum):
    DISK = "disk"
    TAPE = "tape"
    OBJECT_STORE = "object_store"


@dataclass(frozen=True, slots=True, order=True)
class DID:
    """A data identifier ``scope:name`` (a file's name is its LFN)."""

    scope: str
    name: str

    def __post_init__(self) -> None:
        if not SCOPE_RE.match(self.scope):
            raise InvalidInput(
                f"bad scope {self.scope!r}: 1-25 characters of letters, digits, '_', '.', '-'", "scope"
            )
        if not NAME_RE.match(self.name):
            raise InvalidInput(
                f"bad name {self.name!r} in scope {self.scope!r}: up to 250 letters, digits, '_', '.', '-',"
                " starting with a letter or digit",
                "name",
            )

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"


def parse_did(text: str, field: str = "did") -> DID:
    """``scope:name`` -> DID; InvalidInput says which part is wrong."""
    scope, sep, name = text.partition(":")
    if not sep or not scope or not name:
        raise InvalidInput(f"bad DID {text!r} in {field}: expected scope:name", field)
    return DID(scope, name)


def adler32_hex(value: str, lfn: str = "") -> str:
    """Normalise an adler32 checksum to 8 lower-case hex digits (core.checksums' rules, as storage uses)."""
    try:
        return str(Adler32.parse(value))
    except InvalidInput:
        where = f" of {lfn}" if lfn else ""
        raise InvalidInput(f"bad adler32{where} {value!r}: expected 8 hex digits", "adler32") from None


def canonical_guid(value: str, lfn: str = "") -> str:
    """A GUID in its canonical lower-case 8-4-4-4-12 form."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        where = f" of {lfn}" if lfn else ""
        raise InvalidInput(f"bad guid{where} {value!r}: expected a UUID", "guid") from None


@dataclass(frozen=True, slots=True)
class FileDID:
    """A file: ``scope:lfn`` with GUID, size in bytes, adler32 and (optional) event count."""

    did: DID
    guid: str
    bytes: int
    adler32: str
    events: int | None = None

    def __post_init__(self) -> None:
        lfn = str(self.did)
        object.__setattr__(self, "guid", canonical_guid(self.guid, lfn))
        object.__setattr__(self, "adler32", adler32_hex(self.adler32, lfn))
        if self.bytes < 0:
            raise InvalidInput(f"bad bytes of {lfn}: {self.bytes} < 0", "bytes")
        if self.events is not None and self.events < 0:
            raise InvalidInput(f"bad events of {lfn}: {self.events} < 0", "events")

    def differs(self, other: FileDID) -> list[str]:
        """The metadata fields in which two registrations of the same LFN disagree."""
        return [f for f in ("guid", "bytes", "adler32") if getattr(self, f) != getattr(other, f)]


@dataclass(frozen=True, slots=True)
class DIDRecord:
    """A dataset or container as stored."""

    did: DID
    did_type: DIDType
    status: DatasetStatus
    created_at: datetime
    modification_time: datetime


@dataclass(frozen=True, slots=True)
class ContentRow:
    """One child of a dataset or container; ``file`` is set for file children."""

    did: DID
    did_type: DIDType
    file: FileDID | None


@dataclass(frozen=True, slots=True)
class RSESpec:
    """A storage element: where files of a site live. Space in bytes; 0 total = not reported."""

    name: str
    site: str
    prefix: str
    kind: RSEKind = RSEKind.DISK
    total_bytes: int = 0
    used_bytes: int = 0
    availability_read: bool = True
    availability_write: bool = True

    def __post_init__(self) -> None:
        if not RSE_RE.match(self.name):
            raise InvalidInput(
                f"bad RSE name {self.name!r}: upper-case letters, digits, '_', '-' (up to 64)", "name"
            )
        if not SITE_RE.match(self.site):
            raise InvalidInput(f"bad site {self.site!r} of RSE {self.name}", "site")
        if not URL_PREFIX_RE.match(self.prefix):
            raise InvalidInput(
                f"bad prefix {self.prefix!r} of RSE {self.name}: expected a URL (file://, root://, s3://)",
                "prefix",
            )
        if self.total_bytes < 0 or self.used_bytes < 0:
            raise InvalidInput(f"RSE {self.name}: space must be >= 0", "total_bytes")

    def url(self, path: str) -> str:
        """The URL of a replica stored at ``path`` (relative to the prefix) on this RSE."""
        return f"{self.prefix.rstrip('/')}/{path}"


def replica_path(did: DID) -> str:
    """Where a file lives below an RSE's prefix: scope/lfn (deterministic, like Rucio's default)."""
    return f"{did.scope}/{did.name}"


def path_below(prefix: str, url: str) -> str | None:
    """The path of ``url`` relative to an RSE's ``prefix`` (None when it is not below it): where a pilot
    wrote a file it reports by URL. ``file://localhost/...`` is the same place as ``file:///...``."""
    if url.startswith("file://localhost/"):
        url = "file:///" + url.removeprefix("file://localhost/")
    base = prefix.rstrip("/") + "/"
    rest = url.removeprefix(base) if url.startswith(base) else ""
    parts = rest.split("/")
    if not rest or any(p in ("", ".", "..") for p in parts):
        return None
    return rest


Distances = Mapping[str, Mapping[str, int]]  # site -> site -> distance (symmetric; missing = far)


def distance(distances: Distances, source: str, destination: str) -> int | None:
    """Distance between two sites: 0 for the same site, the configured value either way, else None."""
    if source == destination:
        return 0
    there = distances.get(source, {}).get(destination)
    back = distances.get(destination, {}).get(source)
    known = [d for d in (there, back) if d is not None]
    return min(known) if known else None


def nearby(distances: Distances, source: str, destination: str, limit: int = NEARBY_DISTANCE) -> bool:
    """Whether a job at ``destination`` may read storage at ``source`` directly (no transfer)."""
    d = distance(distances, source, destination)
    return d is not None and d <= limit


def nearby_rses(
    rses: list[RSESpec], distances: Distances, site: str, limit: int = NEARBY_DISTANCE
) -> list[tuple[int, RSESpec]]:
    """The readable RSEs near ``site``, closest first (ties by name): what brokerage may read in place."""
    found = [
        (d, r)
        for r in rses
        if r.availability_read and (d := distance(distances, r.site, site)) is not None and d <= limit
    ]
    return sorted(found, key=lambda pair: (pair[0], pair[1].name))


def job_file_did(scope: str, lfn: str, dataset: str = "") -> DID | None:
    """The catalog DID of a job's file row: ``scope:lfn``, the scope taken from the row or else from its
    dataset when that is written ``scope:name``; None for a file outside the catalog (no scope at all)."""
    if not scope and ":" in dataset:
        scope = dataset.partition(":")[0]
    return DID(scope, lfn) if scope else None


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where a job reads or writes one file: the transfer URL (PanDA's turl) and the RSE that holds it;
    for an input also the catalog's GUID, size and adler32 (for a job file row that lacks them)."""

    turl: str
    rse: str
    guid: str = ""
    fsize: int = 0
    adler32: str = ""


def pick_replica(urls: Mapping[str, str], preferred: str, nearby: Sequence[str]) -> FileLocation | None:
    """The replica a job at a queue reads: the one at the queue's ``preferred`` RSE (ddm_input), else the
    first of ``nearby`` (readable RSEs near the queue, closest first; read in place); None if neither."""
    for rse in (preferred, *nearby):
        if rse and rse in urls:
            return FileLocation(urls[rse], rse)
    return None


def dataset_did(dataset: str, scope: str = "") -> DID | None:
    """The DID of a job file row's dataset (``scope:name``, or a bare name in the file's scope)."""
    if ":" in dataset:
        return parse_did(dataset, "dataset")
    return DID(scope, dataset) if dataset and scope else None


DATA_SCOPE = "panda"  # the scope of the server's own blocks (_dis), created on demand
_DIS_NAMESPACE = uuid.UUID("6d1c4f0e-8f2b-4d7e-9a43-1d2f3b4c5e6f")


def dis_name(task_id: int | None, now: datetime, panda_id: int) -> str:
    """A dispatch block's name as PanDA forms it: ``panda.<taskID or 0>.<MM.DD>.GEN.<uuid>_dis<PandaID>``
    (the first job of its bunch). The uuid comes from the PandaID, so a name is never reused."""
    uid = uuid.uuid5(_DIS_NAMESPACE, str(panda_id))
    return f"panda.{task_id or 0}.{now:%m.%d}.GEN.{uid}_dis{panda_id}"


def sub_did(dataset: DID, panda_id: int) -> DID:
    """A job's destination block: ``<dataset>_sub<PandaID>`` beside its output dataset (the dataset part
    shortened so the name stays within the naming schema's 250 characters)."""
    suffix = f"_sub{panda_id}"
    return DID(dataset.scope, dataset.name[: 250 - len(suffix)] + suffix)
