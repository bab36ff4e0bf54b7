"""``panda upload FILE... --rse R --scope S [--dataset scope:name]``, the way rucio's works, and the
registration of the data-moving commands (``panda download`` is in cli/download.py).

The files' size and adler32 are computed locally and checked against the catalog first (a file
registered with another checksum is refused before anything is copied; one registered with the same
checksum and available at the RSE is a no-op), then copied to the RSE's URL for the DID with the ddm
back end (verified by size and adler32), and only then registered with their replica: into
``--dataset`` (created if missing) or, without it, on their own. A failed copy registers nothing.
Exit codes as in cli/common.py (1: some file failed; 2: bad input; 3: no server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from pandawms.cli.client import PandaClient, PandaClientError
from pandawms.cli.common import EXIT_FAILED, AsJson, Server, UsageError, emit_json, fail, session
from pandawms.cli.download import download
from pandawms.cli.progress import Progress
from pandawms.cli.storage import (
    StorageOption,
    describe_file,
    expected_stat,
    option_did,
    registered_files,
    replicas_of,
    rse_specs,
    storage_registry,
)
from pandawms.core.data import DID, RSESpec, replica_path
from pandawms.core.errors import InvalidInput
from pandawms.core.states import ReplicaStatus
from pandawms.ddm.base import StorageError
from pandawms.ddm.registry import BackendRegistry
from pandawms.protocol import paths
from pandawms.protocol.data import DIDCreated, DIDInfo, FileIn, FilesAddedOut, ScopeInfo
from pandawms.protocol.uploads import FileReplicasAdded


@dataclass(frozen=True, slots=True)
class _Upload:
    path: Path
    entry: FileIn
    url: str
    skip: bool  # registered with this checksum and available at the RSE already


def _writable(rses: dict[str, RSESpec], rse: str) -> RSESpec:
    spec = rses.get(rse)
    if spec is None:
        raise UsageError(f"--rse: unknown RSE {rse!r} (known: {', '.join(sorted(rses)) or 'none'})")
    if not spec.availability_write:
        raise UsageError(f"--rse: RSE {rse} is not available for writing")
    return spec


def _known_scopes(client: PandaClient, wanted: Sequence[str]) -> None:
    """Refuse before any copy when a scope does not exist (the registration would be refused after)."""
    known = {s.scope for s in client.catalog_get(list[ScopeInfo], paths.SCOPE_LIST)}
    missing = sorted(set(wanted) - known)
    if missing:
        raise UsageError(f"--scope: unknown scope(s) {', '.join(missing)} (create with: panda scope add)")


def _check_dataset(client: PandaClient, dataset: DID | None) -> bool:
    """Whether ``dataset`` exists (an open dataset; a closed one or a container is a usage error)."""
    if dataset is None:
        return False
    try:
        info = client.catalog_get(DIDInfo, paths.DID_GET, did=str(dataset))
    except PandaClientError as exc:
        if exc.status == 404:
            return False
        raise
    if info.type.value != "dataset" or info.state.value != "open":
        what = f"{info.state.value} {info.type.value}"
        raise UsageError(f"--dataset: {dataset} is a {what}: files go into open datasets")
    return True


def _plan(client: PandaClient, files: Sequence[Path], scope: str, spec: RSESpec) -> list[_Upload]:
    """Each file with its URL at the RSE; refused before any copy when the catalog has it with another
    size or adler32. A registered file keeps its GUID."""
    entries = [describe_file(p, scope) for p in files]
    dids = [DID(e.scope, e.name) for e in entries]
    if len(set(dids)) < len(dids):
        raise UsageError("two files with the same name: each LFN is uploaded once")
    known = registered_files(client, dids)
    out = []
    for path, entry, did in zip(files, entries, dids, strict=True):
        old = known.get(did)
        skip = False
        if old is not None:
            if (old.bytes, old.adler32) != (entry.bytes, entry.adler32):
                raise UsageError(
                    f"{path}: {did} is already registered with {old.bytes} bytes, adler32 {old.adler32}"
                    f" (this file: {entry.bytes} bytes, adler32 {entry.adler32}); nothing was uploaded"
                )
            entry = entry.model_copy(update={"guid": old.guid})
            here = [r for r in replicas_of(client, did) if r.rse == spec.name]
            skip = any(r.state is ReplicaStatus.AVAILABLE for r in here)
        out.append(_Upload(path, entry, spec.url(replica_path(did)), skip))
    return out


def _register(client: PandaClient, done: list[_Upload], rse: str, dataset: DID | None, exists: bool) -> None:
    body = [u.entry.model_dump(exclude_none=True) for u in done]
    if dataset is None:
        client.catalog(FileReplicasAdded, paths.REPLICA_ADD_FILES, {"rse": rse, "files": body})
        return
    if not exists:
        new = {"scope": dataset.scope, "name": dataset.name, "type": "dataset"}
        client.catalog(list[DIDCreated], paths.DID_ADD, {"dids": [new]})
    request = {"dataset": str(dataset), "files": body, "rse": rse}
    client.catalog(FilesAddedOut, paths.DID_ADD_FILES, request)


def upload(
    files: Annotated[list[Path], typer.Argument(help="Local files (the name is the LFN).", min=1)],
    rse: Annotated[str, typer.Option("--rse", help="The RSE to upload to.")],
    scope: Annotated[str, typer.Option("--scope", help="Scope of the files.")],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Attach to this dataset (scope:name; created if missing).")
    ] = None,
    storage_config: StorageOption = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Copy files to an RSE (verified by size and adler32), then register them and their replica."""
    with session("upload", server) as client:
        registry = storage_registry(storage_config)
        target = option_did(dataset, "--dataset") if dataset else None
        spec = _writable(rse_specs(client), rse)
        _known_scopes(client, [scope, *([target.scope] if target else [])])
        exists = _check_dataset(client, target)
        plan = _plan(client, files, scope, spec)
        done, failed = _copy_up(registry, plan, rse)
        # files already there are still attached to --dataset (their registration is a no-op)
        attach = done + [u for u in plan if u.skip] if target is not None else done
        if attach:
            _register(client, attach, rse, target, exists)
    if as_json:
        emit_json({"uploaded": [_name(u) for u in done], "failed": failed})
    else:
        for u in done:
            typer.echo(f"{_name(u)}\tuploaded to {rse}\t{u.url}")
    if failed:
        why = "; ".join(failed)
        fail(
            "upload",
            f"{len(failed)} of {len(plan)} not uploaded, nothing registered for them: {why}",
            EXIT_FAILED,
        )


def _name(u: _Upload) -> str:
    return f"{u.entry.scope}:{u.entry.name}"


def _copy_up(registry: BackendRegistry, plan: Sequence[_Upload], rse: str) -> tuple[list[_Upload], list[str]]:
    """Copy every file not skipped; (copied and verified, failure messages)."""
    done: list[_Upload] = []
    failed: list[str] = []
    with Progress(sum(u.entry.bytes for u in plan if not u.skip), "upload") as bar:
        for u in plan:
            if u.skip:
                typer.echo(f"{_name(u)}\talready registered and at {rse}, skipped")
                continue
            try:
                registry.for_url(u.url).upload(u.path, u.url, expected_stat(u.entry))
            except (StorageError, InvalidInput) as exc:
                failed.append(f"{u.path}: {exc}")
                continue
            bar.advance(u.entry.bytes)
            done.append(u)
    return done, failed


def register(app: typer.Typer) -> None:
    """Add ``upload`` and ``download`` to the ``panda`` app."""
    app.command("upload")(upload)
    app.command("download")(download)
