"""Catalog wire models (Rucio's field names: scope, name, type, bytes, adler32, guid, events, rse, state).

DIDs travel as ``scope:name`` strings; requests are bulk-first (a list in; per-item outcomes out for
close/freeze/delete). Pages are keyset: pass the answer's ``next`` as ``after`` until it is null.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pandawms.core.data import DID, ContentRow, DIDRecord, DIDType, FileDID, RSESpec, parse_did
from pandawms.core.errors import InvalidInput
from pandawms.core.states import DatasetStatus, ReplicaStatus
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.times import UtcDateTime

MAX_FILES = 10_000


def _did(text: str) -> str:
    try:
        return str(parse_did(text))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


DIDText = Annotated[
    str, Field(min_length=3, max_length=277, examples=["user.alice:data.001"]), AfterValidator(_did)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScopeRequest(_Strict):
    scope: str = Field(min_length=1, max_length=25)
    account: str = Field(
        "", max_length=128, description="the owner's token sub; empty: the caller's (an operator's: nobody's)"
    )


class ScopeInfo(_Strict):
    scope: str
    account: str
    created: bool = False


class NewDID(_Strict):
    scope: str = Field(min_length=1, max_length=25)
    name: str = Field(min_length=1, max_length=250)
    type: Literal["dataset", "container"] = "dataset"

    def to_core(self) -> tuple[DID, DIDType]:
        return DID(self.scope, self.name), DIDType(self.type)


class AddDIDsRequest(_Strict):
    dids: list[NewDID] = Field(min_length=1, max_length=MAX_FILES)


class DIDCreated(_Strict):
    did: str
    created: bool  # False: it existed with the same type (a repeat is a no-op)


class DIDInfo(_Strict):
    scope: str
    name: str
    type: DIDType
    state: DatasetStatus
    length: int = Field(description="children (files of a dataset, datasets of a container)")
    bytes: int = Field(description="bytes of the file children")
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def of(cls, rec: DIDRecord, length: int, size: int) -> DIDInfo:
        d = rec.did
        return cls(
            scope=d.scope,
            name=d.name,
            type=rec.did_type,
            state=rec.status,
            length=length,
            bytes=size,
            created_at=rec.created_at,
            updated_at=rec.modification_time,
        )


class DIDEntry(_Strict):
    scope: str
    name: str
    type: DIDType
    state: DatasetStatus


class DIDPage(_Strict):
    items: list[DIDEntry]
    next: str | None = Field(description="pass as 'after' for the next page; null on the last")


class FileIn(_Strict):
    scope: str = Field(min_length=1, max_length=25)
    name: str = Field(min_length=1, max_length=250, description="the LFN")
    bytes: int = Field(ge=0, le=BIGINT_MAX, strict=True)
    adler32: str = Field(min_length=8, max_length=11, description="8 hex digits ('ad:' prefix accepted)")
    guid: str = Field(min_length=32, max_length=38)
    events: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)

    def to_core(self) -> FileDID:
        return FileDID(DID(self.scope, self.name), self.guid, self.bytes, self.adler32, self.events)


class AddFilesRequest(_Strict):
    dataset: DIDText
    files: list[FileIn] = Field(min_length=1, max_length=MAX_FILES)
    rse: str | None = Field(None, max_length=64, description="record an available replica of each here")


class FilesAddedOut(_Strict):
    dataset: str
    added: int
    existing: int
    attached: int
    replicas: int


class AttachRequest(_Strict):
    did: DIDText = Field(description="the dataset or container")
    children: list[DIDText] = Field(min_length=1, max_length=MAX_FILES)


class AttachOut(_Strict):
    did: str
    changed: int


class DIDsRequest(_Strict):
    dids: list[DIDText] = Field(min_length=1, max_length=1000)


class DIDAction(_Strict):
    did: str
    outcome: Literal["accepted", "rejected", "noop"]
    state: str = Field(description="the state now ('deleted' after a delete; '' when unknown)")
    reason: str = ""


class ContentEntry(_Strict):
    scope: str
    name: str
    type: DIDType
    bytes: int | None = None
    adler32: str | None = None
    guid: str | None = None
    events: int | None = None

    @classmethod
    def of(cls, row: ContentRow) -> ContentEntry:
        f = row.file
        if f is None:
            return cls(scope=row.did.scope, name=row.did.name, type=row.did_type)
        return cls(
            scope=row.did.scope,
            name=row.did.name,
            type=row.did_type,
            bytes=f.bytes,
            adler32=f.adler32,
            guid=f.guid,
            events=f.events,
        )


class ContentPage(_Strict):
    items: list[ContentEntry]
    next: str | None = Field(description="pass as 'after' (scope:name) for the next page; null on the last")


class ReplicaEntry(_Strict):
    scope: str
    name: str
    rse: str
    state: ReplicaStatus
    url: str = Field(description="RSE prefix + path; empty when the RSE is unknown")


class ReplicaPage(_Strict):
    items: list[ReplicaEntry]
    next: str | None = Field(description="pass as 'after' (scope:name@RSE) for the next page")


class AddReplicasRequest(_Strict):
    rse: str = Field(min_length=1, max_length=64)
    files: list[DIDText] = Field(min_length=1, max_length=MAX_FILES)
    state: Literal["available", "copying"] = "available"


class ReplicasAdded(_Strict):
    rse: str
    added: int


def replica_entry(did: DID, rse: str, state: ReplicaStatus, path: str, spec: RSESpec | None) -> ReplicaEntry:
    url = spec.url(path) if spec is not None else ""
    return ReplicaEntry(scope=did.scope, name=did.name, rse=rse, state=state, url=url)


def parse_replica_cursor(text: str) -> tuple[DID, str]:
    """``scope:name@RSE`` -> (file, rse)."""
    did, sep, rse = text.rpartition("@")
    if not sep or not rse:
        raise InvalidInput(f"bad cursor {text!r}: expected scope:name@RSE", "after")
    return parse_did(did, "after"), rse
