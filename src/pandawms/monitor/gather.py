"""What a page's summaries read: live job facts, or the hourly aggregates of final jobs plus live facts.

A page over a small selection reads the newest ``limit`` jobs (``db.monitor.facts``) and summarises them
exactly. When the final jobs of the selection's whole hours alone exceed ``limit`` (multi-day windows at
scale), the summaries come instead from:

- the hourly aggregates (db/job_stats.py) for the final states over the window's whole hours;
- the live table for the final jobs of the partial hours at either end of the window (exact times);
- the live table for the active states (their newest ``limit``: active jobs are few next to the history).

Counts, attribute summaries, error groups, per-queue tables and histograms then cover every final job of
the window, and the time charts use bins of an hour or more (``hourly``). The aggregates hold queue, user
and label, so selections that also filter on other columns, ids or error codes stay on the live path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.states import FINAL_STATES
from pandawms.db import job_stats as js
from pandawms.db import monitor as mdb
from pandawms.monitor.common import epoch, from_epoch

FINAL = frozenset(s.value for s in FINAL_STATES)


@dataclass(frozen=True, slots=True)
class Gathered:
    facts: list[mdb.Fact]
    errors: list[mdb.ErrorFact]
    # (histogram name, state) -> counts per bin from the aggregates (the live facts add their own)
    hists: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    hourly: bool = False  # summaries from the hourly aggregates: charts in bins of an hour or more
    counts: dict[str, int] | None = None  # exact jobs per state, when known without the status index
    exact: bool = True  # every job of the selection is summarised
    # what the time charts bin, when not ``facts``/``errors`` (the aggregates per hour)
    chart_facts: list[mdb.Fact] | None = None
    chart_errors: list[mdb.ErrorFact] | None = None

    @property
    def summarised(self) -> int:
        return sum(f.n for f in self.facts)


def aggregatable(sel: mdb.Selection) -> bool:
    return not sel.ints and not sel.errors and all(m.column in js.MATCHABLE for m in sel.matches)


def live(conn: Connection, sel: mdb.Selection, limit: int) -> Gathered:
    facts = mdb.facts(conn, sel, limit)
    return Gathered(facts, mdb.error_facts(conn, sel, limit), exact=len(facts) < limit)


def gather(conn: Connection, sel: mdb.Selection, limit: int, now: datetime) -> Gathered:
    """The facts a page summarises (module docstring)."""
    final = tuple(s for s in sel.statuses if s in FINAL)
    if not final or not aggregatable(sel):
        return live(conn, sel, limit)
    start = js.seconds(sel.since, up=True) if sel.since is not None else None  # hours from it: >= since
    end = epoch(sel.until) if sel.until is not None else epoch(now) + 1
    h0 = js.ceil_hour(start) if start is not None else None
    h1 = js.floor_hour(end)
    if h0 is not None and h0 >= h1:
        return live(conn, sel, limit)
    w = js.Window(h0, h1, final, sel.matches)
    hours = js.by_hour(conn, w)
    if sum(n for _h, _s, n in hours) <= limit:
        return live(conn, sel, limit)
    keyed = js.by_key(conn, w)
    facts = [_fact(row) for row in keyed]
    errors = [_error_fact(r) for r in js.errors_by_key(conn, w)] if "failed" in final else []
    chart_facts = [_hour_fact(h, status, n) for h, status, n in hours]
    chart_errors = [_hour_error(*row) for row in js.errors_by_hour(conn, w)] if "failed" in final else []
    hists: dict[tuple[str, str], tuple[int, ...]] = {}
    for status, (wall, mem) in histograms(keyed).items():
        hists[("walltime", status)], hists[("memory", status)] = wall, mem
    counts: Counter[str] = Counter()
    for _h, status, n in hours:
        counts[status] += n
    exact = True
    # the partial hours at either end, final states, from the live table (exact times)
    edges = [(sel.since, from_epoch(h0))] if h0 is not None else []
    edges.append((from_epoch(h1), sel.until))
    for since, until in edges:
        edge = mdb.Selection(final, sel.matches, since=since, until=until)
        part, part_errors = mdb.facts(conn, edge, limit), mdb.error_facts(conn, edge, limit)
        facts += part
        errors += part_errors
        chart_facts += part
        chart_errors += part_errors
        exact &= len(part) < limit
        counts.update(
            mdb.count_by_status(conn, edge) if edge.status_only else Counter(f.status for f in part)
        )
    active = tuple(s for s in sel.statuses if s not in FINAL)
    if active:
        act = mdb.Selection(active, sel.matches, since=sel.since, until=sel.until)
        part, part_errors = mdb.facts(conn, act, limit), mdb.error_facts(conn, act, limit)
        facts += part
        errors += part_errors
        chart_facts += part
        chart_errors += part_errors
        if act.status_only:
            counts.update(mdb.count_by_status(conn, act))
        else:
            counts.update(Counter(f.status for f in part))
            exact &= len(part) < limit
    return Gathered(facts, errors, hists, True, dict(counts), exact, chart_facts, chart_errors)


def _fact(r: js.StatRow) -> mdb.Fact:
    site, t = r.site or None, r.hour
    return mdb.Fact(0, r.status, site, r.user, r.label, r.attempt, t, t, None, None, None, 1, r.cpu, r.jobs)


def _hour_fact(hour: int, status: str, n: int) -> mdb.Fact:
    return mdb.Fact(0, status, None, "", "", 0, hour, hour, None, None, None, 1, None, n)


def _error_fact(r: js.ErrorStatRow) -> mdb.ErrorFact:
    errors = ((r.component, r.code),)
    return mdb.ErrorFact(r.sample_pid, "failed", r.site or None, r.user, r.latest, errors, r.jobs)


def _hour_error(hour: int, component: str, code: int, n: int) -> mdb.ErrorFact:
    return mdb.ErrorFact(0, "failed", None, "", hour, ((component, code),), n)


def histograms(rows: Iterable[js.StatRow]) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """state -> (walltime bins, memory-per-core bins) summed over ``rows``."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for r in rows:
        wall, mem = out.setdefault(r.status, ([0] * len(r.wall), [0] * len(r.mem)))
        for i, v in enumerate(r.wall):
            wall[i] += v
        for i, v in enumerate(r.mem):
            mem[i] += v
    return {k: (tuple(a), tuple(b)) for k, (a, b) in out.items()}
