"""Jinja2 environment of the monitor: autoescaped templates and the helpers they call."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from pandawms import __version__
from pandawms.core.data import dataset_did
from pandawms.core.errors import InvalidInput
from pandawms.monitor import style, svg
from pandawms.monitor.common import link
from pandawms.monitor.models import Chart

TEMPLATES = Path(__file__).parent / "templates"
STATE_HELP = {
    "defined": "created; waiting for brokerage to choose a queue (or for its inputs)",
    "waiting": "parked until something it depends on is ready",
    "assigned": "inputs are being copied to the queue's storage",
    "activated": "ready; waiting for a pilot on its queue to take it",
    "sent": "handed to a pilot; no update from the pilot yet",
    "starting": "the pilot is setting up (stage-in, or still queued in the batch system)",
    "running": "the payload is executing",
    "holding": "payload over; outputs being registered (no CPU used any more)",
    "transferring": "outputs moving to their final destination",
    "finished": "done; outputs available",
    "failed": "failed in execution or data management; see its error codes",
    "cancelled": "killed on request",
    "closed": "ended by the system before running (reassigned, expired) - not a user failure",
}


def _chart(chart: Chart) -> Markup:
    # svg.render escapes every text it writes.
    return Markup(svg.render(chart))


def _dataset_url(dataset: str, scope: str) -> str:
    """The dataset page of a job file's dataset, or "" when the name is not a catalog DID."""
    try:
        did = dataset_did(dataset, scope)
    except InvalidInput:
        return ""
    return f"/dataset/{quote(str(did), safe=':')}/" if did is not None else ""


def _when(t: datetime | None) -> str:
    """Every time on the pages, in UTC (the database keeps naive UTC)."""
    return "" if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def short_transformation(trf: str) -> str:
    """The program's base name and its arguments: ``/x/.venv/bin/python3 -m m`` -> ``python3 -m m``.

    The list shows this (cut to its column with the full value on hover); a URL keeps its last part.
    """
    program, sep, rest = trf.strip().partition(" ")
    base = program.rstrip("/").rsplit("/", 1)[-1] or program
    return f"{base}{sep}{rest}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        chart=_chart,
        fill=style.state_fill,
        state_fills=style.STATE_FILL,
        state_help=STATE_HELP,
        duration=style.duration,
        size=style.size,
        count=style.count,
        rate_class=style.rate_class,
        link=link,
        when=_when,
        short_trf=short_transformation,
        dataset_url=_dataset_url,
        q=lambda s: quote(str(s), safe=""),
        version=__version__,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
