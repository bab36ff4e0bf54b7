"""Rule and transfer commands, the way rucio's CLI works: ``panda rule add DID RSE [--lifetime S]``,
``panda rule ls [DID]``, ``panda rule rm ID``, ``panda transfers [--rule ID] [--status S]`` (per RSE pair
progress and throughput, then the requests with their errors; tables fit 80 columns).
Exit codes as in cli/common.py: bad input 2 (the server's message), no server 3.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pandawms.cli.client import PandaClient
from pandawms.cli.common import AsJson, Server, UsageError, emit_json, session
from pandawms.core.data import parse_did
from pandawms.core.errors import InvalidInput
from pandawms.core.states import RuleStatus, TransferStatus
from pandawms.protocol import paths
from pandawms.protocol.transfers import PairSummaryOut, RuleInfo, RulePage, TransferInfo, TransferPage

PAGE = 1000
WIDTH = 80

rule_app = typer.Typer(help="Replication rules: keep a DID's files at an RSE.", no_args_is_help=True)


def _did(text: str) -> str:
    try:
        return str(parse_did(text))
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _row(cells: list[tuple[str, int]]) -> str:
    return " ".join(cut(text, w).ljust(w) for text, w in cells).rstrip()[:WIDTH]


@rule_app.command("add")
def rule_add(
    did: Annotated[str, typer.Argument(help="A file, dataset or container (scope:name).")],
    rse: Annotated[str, typer.Argument(help="The RSE to keep its files at.")],
    lifetime: Annotated[
        int | None, typer.Option("--lifetime", min=1, help="Seconds (default: forever).")
    ] = None,
    activity: Annotated[str, typer.Option("--activity")] = "User Subscriptions",
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Create a rule: every file of DID not yet at RSE gets a transfer request."""
    with session("rule add", server) as client:
        body = {"did": _did(did), "rse": rse, "lifetime": lifetime, "activity": activity}
        got = client.catalog(RuleInfo, paths.RULE_ADD, body, idempotent=False)
    if as_json:
        emit_json(got)
        return
    typer.echo(
        f"rule {got.id}: {got.did} -> {got.rse} {got.state.value} "
        f"({got.locks_ok_cnt} ok, {got.locks_replicating_cnt} replicating)"
    )


def _rules(client: PandaClient, did: str | None, rse: str | None, state: RuleStatus | None) -> list[RuleInfo]:
    out: list[RuleInfo] = []
    after = 0
    while True:
        state_value = state.value if state else None
        page = client.catalog_get(
            RulePage, paths.RULE_LIST, did=did, rse=rse, state=state_value, after=after, limit=PAGE
        )
        out += page.items
        if page.next is None:
            return out
        after = page.next


RULE_COLUMNS = [("ID", 6), ("DID", 30), ("RSE", 14), ("STATE", 11), ("OK/REPL/STUCK", 15)]


@rule_app.command("ls")
def rule_ls(
    did: Annotated[str | None, typer.Argument(help="Only the rules of this DID.")] = None,
    rse: Annotated[str | None, typer.Option("--rse")] = None,
    state: Annotated[RuleStatus | None, typer.Option("--state")] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List rules (ok / replicating / stuck files each); a stuck rule's error follows on its own line."""
    with session("rule ls", server) as client:
        got = _rules(client, _did(did) if did else None, rse, state)
    if as_json:
        emit_json(got)
        return
    typer.echo(_row(RULE_COLUMNS))
    for r in got:
        counts = f"{r.locks_ok_cnt}/{r.locks_replicating_cnt}/{r.locks_stuck_cnt}"
        widths = [w for _, w in RULE_COLUMNS]
        typer.echo(_row(list(zip([str(r.id), r.did, r.rse, r.state.value, counts], widths, strict=True))))
        if r.error:
            typer.echo(cut(f"       error: {r.error}", WIDTH))


@rule_app.command("rm")
def rule_rm(
    rule_id: Annotated[int, typer.Argument(help="The rule's id.", min=1)],
    server: Server = None,
) -> None:
    """Delete a rule: its queued transfers are dropped; replicas already copied stay."""
    with session("rule rm", server) as client:
        got = client.catalog(RuleInfo, paths.RULE_DELETE, {"id": rule_id}, idempotent=False)
    typer.echo(f"rule {got.id} ({got.did} -> {got.rse}) deleted")


PAIR_COLUMNS = [
    ("SOURCE", 14),
    ("DEST", 14),
    ("QUEUED", 7),
    ("RUN", 5),
    ("DONE", 7),
    ("FAILED", 7),
    ("MB/s", 8),
]
TRANSFER_COLUMNS = [
    ("ID", 7),
    ("FILE", 24),
    ("SOURCE", 12),
    ("DEST", 12),
    ("STATE", 9),
    ("TRY", 4),
    ("MB", 8),
]


def _transfers(
    client: PandaClient, rule: int | None, status: TransferStatus | None, rse: str | None, limit: int
) -> list[TransferInfo]:
    out: list[TransferInfo] = []
    after = 0
    while len(out) < limit:
        page = client.catalog_get(
            TransferPage,
            paths.TRANSFER_LIST,
            rule_id=rule,
            state=status.value if status else None,
            rse=rse,
            after=after,
            limit=min(PAGE, limit - len(out)),
        )
        out += page.items
        if page.next is None:
            break
        after = page.next
    return out


def _print_pairs(pairs: list[PairSummaryOut]) -> None:
    typer.echo(_row(PAIR_COLUMNS))
    widths = [w for _, w in PAIR_COLUMNS]
    for p in pairs:
        cells = [p.source_rse or "(to choose)", p.dest_rse, str(p.queued), str(p.submitted), str(p.done)]
        cells += [str(p.failed), f"{p.recent_mb_per_s:.1f}"]
        typer.echo(_row(list(zip(cells, widths, strict=True))))
        for error in p.last_errors:
            typer.echo(cut(f"  error: {error}", WIDTH))


def _print_transfers(items: list[TransferInfo]) -> None:
    typer.echo(_row(TRANSFER_COLUMNS))
    widths = [w for _, w in TRANSFER_COLUMNS]
    for t in items:
        cells = [str(t.id), t.did.partition(":")[2], t.source_rse or "-", t.dest_rse, t.state.value]
        cells += [f"{t.attempt}/{t.max_attempts}", f"{t.bytes / 1e6:.1f}"]
        typer.echo(_row(list(zip(cells, widths, strict=True))))
        if t.last_error:
            typer.echo(cut(f"        {t.last_error}", WIDTH))


def transfers(
    rule: Annotated[int | None, typer.Option("--rule", min=1, help="Only this rule's requests.")] = None,
    status: Annotated[TransferStatus | None, typer.Option("--status")] = None,
    rse: Annotated[str | None, typer.Option("--rse", help="From or to this RSE.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many requests.")] = 50,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Transfer progress per RSE pair (queued, running, done, failed, recent MB/s, last errors), then the
    requests (oldest first) with their attempts and errors."""
    with session("transfers", server) as client:
        pairs = client.catalog_get(list[PairSummaryOut], paths.TRANSFER_SUMMARY)
        items = _transfers(client, rule, status, rse, limit)
    if as_json:
        emit_json({"summary": pairs, "transfers": items})
        return
    _print_pairs(pairs)
    typer.echo("")
    _print_transfers(items)


def register(app: typer.Typer) -> None:
    """Add ``panda rule`` and ``panda transfers`` to the ``panda`` app."""
    app.add_typer(rule_app, name="rule")
    app.command("transfers")(transfers)
