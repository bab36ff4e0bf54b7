"""``panda download scope:name``, the way rucio's works: the files of a file, dataset or container come from
an available replica on a readable RSE, the nearest to ``--site`` first (core.transfers.choose_source,
the transfer agent's rule), the next one when a copy fails; each arrives at DEST/scope/name verified by
size and adler32 (the back end lands it under a temporary name, so a failed check leaves no file). A
file already there with the right checksum is skipped. Exit 1 when some file could not be downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from pandawms.cli.client import PandaClient, PandaClientError
from pandawms.cli.common import EXIT_FAILED, AsJson, Server, UsageError, emit_json, fail, session
from pandawms.cli.progress import Progress
from pandawms.cli.storage import (
    StorageOption,
    contents_of,
    expected_stat,
    file_stat,
    option_did,
    registered_files,
    replicas_of,
    rse_specs,
    storage_registry,
)
from pandawms.core.data import DID, SITE_RE, DIDType, RSESpec
from pandawms.core.errors import InvalidInput
from pandawms.core.transfers import choose_source
from pandawms.ddm.base import ChecksumMismatch, StorageError
from pandawms.ddm.registry import BackendRegistry
from pandawms.protocol import paths
from pandawms.protocol.data import ContentEntry, DIDInfo, ReplicaEntry
from pandawms.protocol.rses import DistancesBody


@dataclass(frozen=True, slots=True)
class _Wanted:
    entry: ContentEntry
    replicas: list[ReplicaEntry]

    @property
    def did(self) -> DID:
        return DID(self.entry.scope, self.entry.name)


CLIENT_RSE = "PANDA-DOWNLOAD-CLIENT"  # where the copy goes, as the source choice sees it


def _of_dataset(client: PandaClient, did: DID) -> list[_Wanted]:
    by_file: dict[DID, list[ReplicaEntry]] = {}
    for r in replicas_of(client, did):
        by_file.setdefault(DID(r.scope, r.name), []).append(r)
    files = [e for e in contents_of(client, did) if e.type is DIDType.FILE]
    return [_Wanted(e, by_file.get(DID(e.scope, e.name), [])) for e in files]


def _resolve(client: PandaClient, did: DID) -> list[_Wanted]:
    """The files ``did`` names (a file, a dataset's, a container's datasets') with their replicas."""
    try:
        info = client.catalog_get(DIDInfo, paths.DID_GET, did=str(did))
    except PandaClientError as exc:
        if exc.status != 404:
            raise
        found = registered_files(client, [did]).get(did)
        if found is None:
            raise UsageError(f"no file, dataset or container {did}") from None
        return [_Wanted(found, replicas_of(client, did))]
    if info.type is DIDType.DATASET:
        return _of_dataset(client, did)
    out: dict[DID, _Wanted] = {}
    for child in contents_of(client, did):
        for w in _of_dataset(client, DID(child.scope, child.name)):
            out.setdefault(w.did, w)
    return [out[d] for d in sorted(out)]


def _client_rse(site: str | None) -> RSESpec:
    if site is not None and not SITE_RE.match(site):
        raise UsageError(f"--site: bad site name {site!r}")
    return RSESpec(name=CLIENT_RSE, site=site or "client", prefix="file:///")


@dataclass
class _Fetcher:
    """Downloads one file after another: the nearest readable available replica first, the next on a
    failure; what arrives is verified against the catalog's size and adler32."""

    registry: BackendRegistry
    rses: dict[str, RSESpec]
    distances: dict[str, dict[str, int]]
    here: RSESpec
    bar: Progress

    def fetch(self, w: _Wanted, local: Path) -> str:
        """The RSE it came from; StorageError naming each replica passed over or tried when none worked."""
        expected = expected_stat(w.entry)
        urls = {r.rse: r.url for r in w.replicas}
        tried: dict[str, str] = {}
        while True:
            left = [(r.rse, r.state) for r in w.replicas if r.rse not in tried]
            choice = choose_source(left, self.rses, self.here, self.distances)
            if choice.rse is None:
                reasons = {**choice.rejected, **tried}
                detail = "; ".join(f"{rse}: {why}" for rse, why in sorted(reasons.items()))
                raise StorageError(f"no usable replica of {w.did}" + (f" ({detail})" if detail else ""), "")
            url = urls[choice.rse.name]
            try:
                with self.bar.following(local, expected.size):
                    self.registry.for_url(url).download(url, local, expected)
                return choice.rse.name
            except ChecksumMismatch as exc:
                tried[choice.rse.name] = f"checksum mismatch ({exc}), the partial file was removed"
            except (StorageError, InvalidInput) as exc:
                tried[choice.rse.name] = str(exc)


def download(
    did: Annotated[str, typer.Argument(help="A file, dataset or container (scope:name).")],
    dest: Annotated[Path, typer.Option("--dest", help="Directory; files go to DEST/scope/name.")] = Path("."),
    site: Annotated[
        str | None, typer.Option("--site", help="Where you are: the nearest replica to this site first.")
    ] = None,
    storage_config: StorageOption = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Download a file or a dataset's files from available replicas, verified by size and adler32."""
    with session("download", server) as client:
        registry, here = storage_registry(storage_config), _client_rse(site)
        wanted = _resolve(client, option_did(did, "did"))
        rses = rse_specs(client)
        distances = client.catalog_get(DistancesBody, paths.RSE_DISTANCES).distances
    todo, skipped = [], []
    for w in wanted:
        local = dest / w.entry.scope / w.entry.name
        if local.is_file() and file_stat(local) == expected_stat(w.entry):
            skipped.append(str(w.did))
        else:
            local.unlink(missing_ok=True)  # a wrong or partial copy of an earlier run: never left behind
            todo.append((w, local))
    done: dict[str, str] = {}
    failed: dict[str, str] = {}
    with Progress(sum(w.entry.bytes or 0 for w, _p in todo), "download") as bar:
        fetcher = _Fetcher(registry, rses, distances, here, bar)
        for w, local in todo:
            try:
                done[str(w.did)] = f"{fetcher.fetch(w, local)}\t{local}"
            except StorageError as exc:
                failed[str(w.did)] = str(exc)
    if as_json:
        emit_json({"downloaded": sorted(done), "skipped": skipped, "failed": failed})
    else:
        for name in skipped:
            typer.echo(f"{name}\talready present with the right checksum, skipped")
        for name, where in done.items():
            typer.echo(f"{name}\tdownloaded from {where}")
    if failed:
        why = "; ".join(f"{d}: {m}" for d, m in failed.items())
        fail("download", f"{len(failed)} of {len(wanted)} file(s) not downloaded: {why}", EXIT_FAILED)
