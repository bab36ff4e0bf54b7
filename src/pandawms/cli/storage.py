"""What ``panda upload`` and ``panda download`` share: the ``--storage-config`` option and the back ends
it gives, local files' size and adler32 (and their DID for ``panda dataset add``), and the catalog
look-ups both make (RSEs, registered files, replicas, contents; keyset pages walked to the end)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from pandawms.cli.client import PandaClient
from pandawms.cli.common import UsageError
from pandawms.core.checksums import Adler32, FileStat, adler32_of_chunks
from pandawms.core.data import DID, RSESpec, parse_did
from pandawms.core.errors import InvalidInput
from pandawms.ddm.base import CHUNK_SIZE
from pandawms.ddm.config import load_storage_config
from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.protocol import paths
from pandawms.protocol.data import ContentEntry, ContentPage, FileIn, ReplicaEntry, ReplicaPage
from pandawms.protocol.rses import RSEConfig

PAGE = 1000
LOOKUP = 1000  # DIDs per /did/get_files call
StorageOption = Annotated[
    Path | None,
    typer.Option(
        "--storage-config",
        help="TOML with the storage access settings ([s3] endpoint_url, access_key, secret_key; [xrootd]).",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]


def file_stat(path: Path) -> FileStat:
    """Size and adler32 of a local file, read in CHUNK_SIZE pieces."""
    with path.open("rb") as fh:
        return adler32_of_chunks(iter(lambda: fh.read(CHUNK_SIZE), b""))


def describe_file(path: Path, scope: str) -> FileIn:
    """A local file's DID: its name as LFN, size and adler32, and a GUID derived from ``scope:lfn`` (unique
    as the DID is, so registering the same file again is a no-op, not a GUID conflict)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        DID(scope, path.name)  # a clear usage error for a bad scope or an LFN the catalog cannot take
    except InvalidInput as exc:
        raise UsageError(f"{path}: {exc}") from None
    stat = file_stat(path)
    return FileIn(
        scope=scope,
        name=path.name,
        bytes=stat.size,
        adler32=str(stat.adler32),
        guid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"did:{scope}:{path.name}")),
    )


def storage_registry(path: Path | None) -> BackendRegistry:
    try:
        return build_registry(load_storage_config(path) if path is not None else StorageConfig())
    except InvalidInput as exc:
        raise UsageError(f"--storage-config: {exc}") from None


def option_did(text: str, option: str) -> DID:
    try:
        return parse_did(text, option)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


def rse_specs(client: PandaClient) -> dict[str, RSESpec]:
    return {r.name: r.to_spec() for r in client.catalog_get(list[RSEConfig], paths.RSE_LIST)}


def registered_files(client: PandaClient, dids: Sequence[DID]) -> dict[DID, ContentEntry]:
    out: dict[DID, ContentEntry] = {}
    names = [str(d) for d in dids]
    for start in range(0, len(names), LOOKUP):
        chunk = names[start : start + LOOKUP]
        for e in client.catalog_get(list[ContentEntry], paths.DID_GET_FILES, dids=chunk):
            out[DID(e.scope, e.name)] = e
    return out


def _all_pages(
    client: PandaClient, model: type[ReplicaPage] | type[ContentPage], path: str, did: DID
) -> list[Any]:
    """Every item of a keyset-paged listing of ``did`` (``next`` is the cursor for ``after``)."""
    items: list[Any] = []
    after = None
    while True:
        page = client.catalog_get(model, path, did=str(did), after=after, limit=PAGE)
        items += page.items
        if (after := page.next) is None:
            return items


def replicas_of(client: PandaClient, did: DID) -> list[ReplicaEntry]:
    return _all_pages(client, ReplicaPage, paths.REPLICA_LIST, did)


def contents_of(client: PandaClient, did: DID) -> list[ContentEntry]:
    return _all_pages(client, ContentPage, paths.DID_LIST_CONTENTS, did)


def expected_stat(entry: FileIn | ContentEntry) -> FileStat:
    return FileStat(entry.bytes or 0, Adler32.parse(entry.adler32 or ""))
