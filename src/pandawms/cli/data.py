"""Catalog commands, the way rucio's CLI works: ``panda scope``, ``panda dataset create|add|ls|close|
freeze|rm``, ``panda rse list|add``, ``panda replicas scope:name``. No data moves here (``panda upload``
and ``panda download``: cli/transfer_data.py, cli/download.py); ``dataset add`` registers local files by
size and adler32.
Exit codes as in cli/common.py: a refused close/freeze/delete is 1, bad input 2, no server 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pandawms.cli.client import PandaClient
from pandawms.cli.common import EXIT_FAILED, AsJson, Server, UsageError, emit_json, fail, session
from pandawms.cli.storage import describe_file
from pandawms.core.data import RSEKind, parse_did
from pandawms.core.errors import InvalidInput
from pandawms.protocol import paths
from pandawms.protocol.data import (
    ContentPage,
    DIDAction,
    DIDCreated,
    DIDInfo,
    DIDPage,
    FilesAddedOut,
    ReplicaEntry,
    ReplicaPage,
    ScopeInfo,
)
from pandawms.protocol.rses import RSEConfig

BATCH = 10_000  # files per did/add_files call (the server's limit)
PAGE = 1000
DIDs = Annotated[list[str], typer.Argument(help="scope:name (one or more).", min=1, show_default=False)]

scope_app = typer.Typer(help="Scopes: the namespaces of DIDs.", no_args_is_help=True)
dataset_app = typer.Typer(help="Datasets and containers (scope:name).", no_args_is_help=True)
rse_app = typer.Typer(help="Storage elements (RSEs).", no_args_is_help=True)


def _did(text: str) -> str:
    try:
        return str(parse_did(text))
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


@scope_app.command("add")
def scope_add(scope: str, account: str = "", server: Server = None) -> None:
    """Create a scope (an existing one is left as it is)."""
    with session("scope add", server) as client:
        got = client.catalog(ScopeInfo, paths.SCOPE_ADD, {"scope": scope, "account": account})
    typer.echo(f"scope {scope} {'created' if got.created else 'exists'}")


@scope_app.command("list")
def scope_list(server: Server = None, as_json: AsJson = False) -> None:
    with session("scope list", server) as client:
        got = client.catalog_get(list[ScopeInfo], paths.SCOPE_LIST)
    if as_json:
        emit_json(got)
        return
    for s in got:
        typer.echo(f"{s.scope}\t{s.account}")


@dataset_app.command("create")
def dataset_create(
    dids: DIDs,
    container: Annotated[bool, typer.Option("--container", help="Create containers, not datasets.")] = False,
    server: Server = None,
) -> None:
    """Create open datasets (or containers); existing ones are left as they are."""
    kind = "container" if container else "dataset"
    with session("dataset create", server) as client:
        body = [dict(zip(("scope", "name"), _did(d).split(":", 1), strict=True), type=kind) for d in dids]
        got = client.catalog(list[DIDCreated], paths.DID_ADD, {"dids": body})
    for d in got:
        typer.echo(f"{d.did}\t{kind} {'created' if d.created else 'exists'}")


@dataset_app.command("add")
def dataset_add(
    dataset: Annotated[str, typer.Argument(help="The open dataset (scope:name).")],
    files: Annotated[list[Path], typer.Argument(help="Local files to register.", min=1)],
    rse: Annotated[str | None, typer.Option("--rse", help="Record an available replica here.")] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="Scope of the files (default the dataset's).")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Register local files (name = LFN, size, adler32) into a dataset, 10,000 per call."""
    with session("dataset add", server) as client:
        did = _did(dataset)
        entries = [describe_file(p, scope or did.split(":", 1)[0]) for p in files]
        totals = FilesAddedOut(dataset=did, added=0, existing=0, attached=0, replicas=0)
        for start in range(0, len(entries), BATCH):
            chunk = [e.model_dump(exclude_none=True) for e in entries[start : start + BATCH]]
            got = client.catalog(
                FilesAddedOut, paths.DID_ADD_FILES, {"dataset": did, "files": chunk, "rse": rse}
            )
            totals = FilesAddedOut(
                dataset=did,
                added=totals.added + got.added,
                existing=totals.existing + got.existing,
                attached=totals.attached + got.attached,
                replicas=totals.replicas + got.replicas,
            )
    if as_json:
        emit_json(totals)
        return
    typer.echo(
        f"{did}: {totals.added} new file(s), {totals.existing} already registered, "
        f"{totals.attached} attached, {totals.replicas} replica(s)"
    )


@dataset_app.command("ls")
def dataset_ls(
    target: Annotated[str, typer.Argument(help="scope:name lists its contents; a scope lists its datasets.")],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """A dataset's or container's state and contents, or the datasets and containers of a scope."""
    with session("dataset ls", server) as client:
        if ":" not in target:
            _list_scope(client, target, as_json)
            return
        did = _did(target)
        info = client.catalog_get(DIDInfo, paths.DID_GET, did=did)
        items, after = [], None
        while True:
            page = client.catalog_get(ContentPage, paths.DID_LIST_CONTENTS, did=did, after=after, limit=PAGE)
            items += page.items
            if (after := page.next) is None:
                break
    if as_json:
        emit_json({"did": info, "contents": items})
        return
    typer.echo(f"{did}  {info.type.value}  {info.state.value}  {info.length} item(s)  {info.bytes:,} bytes")
    for c in items:
        meta = f"\t{c.bytes}\tad:{c.adler32}\t{c.guid}" if c.bytes is not None else ""
        typer.echo(f"{c.scope}:{c.name}\t{c.type.value}{meta}")


def _list_scope(client: PandaClient, scope: str, as_json: bool) -> None:
    entries, after = [], None
    while True:
        page = client.catalog_get(DIDPage, paths.DID_LIST, scope=scope, after=after, limit=PAGE)
        entries += page.items
        if (after := page.next) is None:
            break
    if as_json:
        emit_json(entries)
        return
    for e in entries:
        typer.echo(f"{e.scope}:{e.name}\t{e.type.value}\t{e.state.value}")


def _act(command: str, path: str, dids: list[str], server: str | None, as_json: bool) -> None:
    with session(command, server) as client:
        body = {"dids": [_did(d) for d in dids]}
        got = client.catalog(list[DIDAction], path, body, idempotent=path != paths.DID_DELETE)
    if as_json:
        emit_json(got)
    else:
        for a in got:
            typer.echo(
                f"{a.did}\t{a.outcome}\t{a.state}" + (f"\t{a.reason}" if a.outcome == "rejected" else "")
            )
    refused = [a.did for a in got if a.outcome == "rejected"]
    if refused:
        fail(command, f"{len(refused)} of {len(got)} refused: {', '.join(refused)}", EXIT_FAILED)


@dataset_app.command("close")
def dataset_close(dids: DIDs, server: Server = None, as_json: AsJson = False) -> None:
    """open -> closed: no more files can be added."""
    _act("dataset close", paths.DID_CLOSE, dids, server, as_json)


@dataset_app.command("freeze")
def dataset_freeze(dids: DIDs, server: Server = None, as_json: AsJson = False) -> None:
    """-> frozen: never changes again, never deleted."""
    _act("dataset freeze", paths.DID_FREEZE, dids, server, as_json)


@dataset_app.command("rm")
def dataset_rm(dids: DIDs, server: Server = None, as_json: AsJson = False) -> None:
    """Delete empty, unfrozen datasets/containers."""
    _act("dataset rm", paths.DID_DELETE, dids, server, as_json)


@rse_app.command("list")
def rse_list(server: Server = None, as_json: AsJson = False) -> None:
    with session("rse list", server) as client:
        got = client.catalog_get(list[RSEConfig], paths.RSE_LIST)
    if as_json:
        emit_json(got)
        return
    for r in got:
        access = ("r" if r.availability_read else "-") + ("w" if r.availability_write else "-")
        typer.echo(
            f"{r.name}\t{r.site}\t{r.kind.value}\t{access}\t{r.used_bytes:,}/{r.total_bytes:,}\t{r.prefix}"
        )


@rse_app.command("add")
def rse_add(
    name: str,
    site: Annotated[str, typer.Option("--site", help="The site the RSE belongs to.")],
    prefix: Annotated[str, typer.Option("--prefix", help="URL prefix (file://, root://, s3://).")],
    kind: Annotated[RSEKind, typer.Option("--kind")] = RSEKind.DISK,
    total_bytes: Annotated[int, typer.Option("--total-bytes", min=0)] = 0,
    read: Annotated[bool, typer.Option("--read/--no-read", help="Available for reading.")] = True,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Available for writing.")] = True,
    server: Server = None,
) -> None:
    """Create or replace an RSE (as the RSE file does; takes effect at once)."""
    rse = {"name": name, "site": site, "prefix": prefix, "kind": kind.value, "total_bytes": total_bytes}
    rse |= {"availability_read": read, "availability_write": write}
    with session("rse add", server) as client:
        client.catalog(list[RSEConfig], paths.RSE_UPSERT, {"rses": [rse]})
    typer.echo(f"RSE {name} saved")


def replicas(
    did: Annotated[str, typer.Argument(help="A file or dataset (scope:name).")],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Where a file, or every file of a dataset, has replicas (RSE, state, URL)."""
    with session("replicas", server) as client:
        name = _did(did)
        items: list[ReplicaEntry] = []
        after = None
        while True:
            page = client.catalog_get(ReplicaPage, paths.REPLICA_LIST, did=name, after=after, limit=PAGE)
            items += page.items
            if (after := page.next) is None:
                break
    if as_json:
        emit_json(items)
        return
    if not items:
        fail("replicas", f"{name} has no replicas", EXIT_FAILED)
    for r in items:
        typer.echo(f"{r.scope}:{r.name}\t{r.rse}\t{r.state.value}\t{r.url}")


def register(app: typer.Typer) -> None:
    """Add the catalog commands to the ``panda`` app."""
    app.add_typer(scope_app, name="scope")
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(rse_app, name="rse")
    app.command("replicas")(replicas)
