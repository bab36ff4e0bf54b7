"""What every user command shares: exit codes, option types, the client session and error reporting.

Exit codes: 0 success; 1 the operation ran but something failed (a job not brokered, a kill or retry
refused, a watched job ended unsuccessfully, no log yet); 2 bad usage or bad input (the server's 4xx
message on stderr); 3 the server could not be reached. Errors are one line on stderr, never a traceback.
The server URL is resolved once per invocation: ``--server`` > ``$PANDA_URL`` > http://127.0.0.1:25080.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, NoReturn

import pydantic_core
import typer
from rich.console import Console

from pandawms.cli.auth import token_source
from pandawms.cli.client import PandaClient, PandaClientError, resolve_server
from pandawms.core.states import FINAL_STATES

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
LOG_MEMBERS = ("payload.stdout", "payload.stderr", "pilotlog.txt")
FINAL = frozenset(s.value for s in FINAL_STATES)
_SHELL_CHARS = set("|&;<>()$`*?[]#~\n")
_MAX_RETRY_CHAIN = 50

Server = Annotated[
    str | None,
    typer.Option(
        "--server", help="Server URL (default: $PANDA_URL, else http://127.0.0.1:25080).", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
JobIds = Annotated[list[int], typer.Argument(help="PandaID(s).", min=1, show_default=False)]
Statuses = Annotated[list[str] | None, typer.Option("--status", help="Job status (repeatable or a,b).")]
Queues = Annotated[list[str] | None, typer.Option("--queue", help="Queue / computingSite (repeatable).")]
Users = Annotated[list[str] | None, typer.Option("--user", help="prodUserName (repeatable).")]
Labels = Annotated[list[str] | None, typer.Option("--label", help="prodSourceLabel (repeatable).")]
Hours = Annotated[float | None, typer.Option("--hours", min=0.001, help="Modified in the last N hours.")]


class UsageError(Exception):
    """Bad input found on the client side (exit 2)."""


def fail(command: str, message: str, code: int) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"panda {command}: {message}", markup=False)
    raise typer.Exit(code)


def exit_code(err: PandaClientError) -> int:
    if err.unreachable:
        return EXIT_UNREACHABLE
    if err.status is not None and 400 <= err.status < 500:
        return EXIT_USAGE
    return EXIT_FAILED


@contextmanager
def session(command: str, server: str | None) -> Iterator[PandaClient]:
    """A client for this invocation; client and usage errors become a message and an exit code."""
    try:
        url = resolve_server(server, os.environ)
    except ValueError as exc:
        fail(command, str(exc), EXIT_USAGE)
    try:
        auth = token_source(
            os.environ
        )  # PANDA_TOKEN_FILE, else the stored login (panda token create --login)
        verify, cert = os.environ.get("PANDA_CA_FILE") or True, os.environ.get("PANDA_CERT_FILE") or None
        with PandaClient(url, auth=auth, verify=verify, client_cert=cert) as client:
            yield client
    except PandaClientError as exc:
        fail(command, exc.message, exit_code(exc))
    except UsageError as exc:
        fail(command, str(exc), EXIT_USAGE)


def emit_json(value: object) -> None:
    typer.echo(pydantic_core.to_json(value, by_alias=True, indent=2).decode())


def make_console() -> Console:
    return Console(highlight=False, markup=False)  # job data may hold "[...]": never read as markup


def split_values(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(p.strip() for v in values or () for p in v.replace("|", ",").split(",") if p.strip())
