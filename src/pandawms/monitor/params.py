"""The monitor's URL grammar (reference monitor-and-client.md A2): query parameters -> a db Selection.

``|`` is OR, ``,`` is AND inside one OR term, ``!`` negates, ``*`` is a wildcard, a lone ``*`` means
"set", ``Not specified`` means empty. Bad input raises InvalidInput naming the parameter (HTTP 400).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pandawms.core.errors import InvalidInput
from pandawms.core.states import ACTIVE_STATES, JobStatus
from pandawms.db.monitor import Cursor, Match, Selection, SortKey, Term
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.errorcodes import parse_component
from pandawms.protocol.times import naive_utc

TEXT_PARAMS: Mapping[str, str] = {
    "computingsite": "computing_site",
    "produsername": "prod_user_name",
    "user": "prod_user_name",
    "prodsourcelabel": "prod_source_label",
    "jobname": "job_name",
    "transformation": "transformation",
    "modificationhost": "modification_host",
}
INT_PARAMS: Mapping[str, str] = {
    "pandaid": "panda_id",
    "taskid": "task_id",
    "jeditaskid": "task_id",
    "jobsetid": "jobset_id",
    "parentid": "parent_id",
    "attemptnr": "attempt_nr",
}
# Selective keys lift the default time window (a job list by id is wanted whatever its age).
SELECTIVE = frozenset({"pandaid", "taskid", "jeditaskid", "jobsetid", "parentid", "jobname"})
JOBTYPES: Mapping[str, str] = {"analysis": "user", "production": "managed", "test": "test|ptest|prod_test"}
WINDOW_PARAMS = frozenset({"hours", "days", "date_from", "date_to"})
ALWAYS = frozenset({"json", "timestamp", "_"})
FILTER_PARAMS = frozenset({*TEXT_PARAMS, *INT_PARAMS, "jobstatus", "errorcode", "jobtype"})
LIST_PARAMS = frozenset({*FILTER_PARAMS, *WINDOW_PARAMS, "limit", "display_limit", "sortby", "cursor"})
MAX_HOURS = 24 * 366
DATE = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:Z|[+-]\d\d:\d\d)?)?")
FIRST_YEAR, LAST_YEAR = 1970, 9998  # dates outside cannot be binned or shifted by a window
MAX_DB_INT = BIGINT_MAX  # larger ids cannot be stored, so they are bad input, not a server error
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 200_000
DEFAULT_HOURS = 12  # the default window of every job page (home, jobs, errors, sites, users, a user)
DISPLAY_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime | None
    until: datetime | None
    label: str
    hours: float | None  # length when bounded


def query_dict(items: Sequence[tuple[str, str]], allowed: frozenset[str]) -> dict[str, str]:
    """The query as a dict; unknown, repeated, empty or unsafe parameters are refused."""
    out: dict[str, str] = {}
    for key, value in items:
        if key not in allowed | ALWAYS:
            valid = ", ".join(sorted(allowed)) or "none"
            raise InvalidInput(f"{key}: unknown parameter; valid parameters here: {valid}", key)
        if key in out:
            raise InvalidInput(f"{key}: given more than once (use | to OR values)", key)
        value = value.strip()
        if key not in ALWAYS and not value:
            raise InvalidInput(f"{key}: empty value", key)
        if "<" in value or ">" in value:
            raise InvalidInput(f"{key}: markup is not allowed in parameters", key)
        if "%" in value:
            raise InvalidInput(f"{key}: '%' is not a wildcard here, use '*'", key)
        out[key] = value
    return out


def parse_int(q: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} is not an integer", name) from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name}: {value} is out of range {lo}..{hi}", name)
    return value


def parse_hours(q: Mapping[str, str]) -> float:
    """``hours=N``, decimals allowed (``0.5``), as the CLI takes them: more than 0, at most MAX_HOURS."""
    raw = q["hours"]
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"hours: {raw!r} is not a number", "hours") from None
    if not 0 < value <= MAX_HOURS:  # also refuses nan and inf
        raise InvalidInput(f"hours: {raw} is out of range (0, {MAX_HOURS}]", "hours")
    return value


def window_label(hours: float) -> str:
    """``last 30 minutes``, ``last 1.5 hours``, ``last 12 hours``, ``last 7 days``."""
    if hours < 1:
        return f"last {round(hours * 60)} minutes"
    if hours % 24 == 0 and hours >= 48:
        return f"last {int(hours) // 24} days"
    return f"last {hours:g} hours"


def parse_limits(q: Mapping[str, str]) -> tuple[int, int]:
    """(limit, rows listed): ``limit`` caps the jobs read for the summaries and the list alike."""
    limit = parse_int(q, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    display = parse_int(q, "display_limit", DISPLAY_LIMIT, 1, 1000)
    return limit, min(limit, display)


def _parse_date(q: Mapping[str, str], name: str) -> datetime | None:
    """``YYYY-MM-DD[THH:MM[:SS[.f]]]`` in UTC, or with ``Z`` or an offset as the JSON twins write times."""
    raw = q.get(name)
    if raw is None:
        return None
    try:
        if DATE.fullmatch(raw) is None:
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{name}: {raw!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z])", name
        ) from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInput(f"{name}: {raw!r} is outside the years {FIRST_YEAR}..{LAST_YEAR}", name)
    return naive_utc(value)


def _id(name: str, raw: str) -> int:
    """A database integer (PanDA id, code, attempt): 0..2**63-1, else InvalidInput naming ``name``."""
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} is not an integer", name) from None
    if not 0 <= value <= MAX_DB_INT:
        raise InvalidInput(f"{name}: {value} is out of range 0..{MAX_DB_INT}", name)
    return value


def parse_window(q: Mapping[str, str], now: datetime, default_hours: int, *, lift: bool = False) -> Window:
    """hours=N | days=N | date_from/date_to; ``lift`` drops the default window (explicit ones still apply)."""
    if "hours" in q and "days" in q:
        raise InvalidInput("days: give either hours or days, not both", "days")
    date_from, date_to = _parse_date(q, "date_from"), _parse_date(q, "date_to")
    if date_from is not None or date_to is not None:
        if "hours" in q or "days" in q:
            raise InvalidInput("date_from: give either a date range or hours/days, not both", "date_from")
        if date_from is not None and date_to is not None and date_to <= date_from:
            raise InvalidInput("date_to: must be after date_from", "date_to")
        start = date_from or (date_to or now) - timedelta(hours=default_hours)
        end = date_to
        span = ((end or now) - start).total_seconds() / 3600
        if span > MAX_HOURS:
            raise InvalidInput(f"date_from: the window is longer than {MAX_HOURS // 24} days", "date_from")
        label = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}" if end else f"since {start:%Y-%m-%d %H:%M}"
        return Window(start, end, label, span)
    hours: float
    if "days" in q:
        hours = parse_int(q, "days", 0, 1, MAX_HOURS // 24) * 24
    elif "hours" in q:
        hours = parse_hours(q)
    elif lift:
        return Window(None, None, "any time", None)
    else:
        hours = default_hours
    return Window(now - timedelta(hours=hours), None, window_label(hours), float(hours))


def _groups(raw: str) -> tuple[tuple[Term, ...], ...]:
    groups = []
    for alternative in raw.split("|"):
        terms = []
        for part in alternative.split(","):
            part = part.strip()
            negate = part.startswith("!")
            pattern = part[1:].strip() if negate else part
            if not pattern:
                raise ValueError("empty term")
            terms.append(Term(pattern, negate))
        groups.append(tuple(terms))
    return tuple(groups)


def _term_matches(term: Term, value: str) -> bool:
    hit = fnmatch.fnmatchcase(value, term.pattern)
    return hit != term.negate


def parse_states(
    raw: str | None, name: str, every: Sequence[str], what: str = "job state"
) -> tuple[str, ...]:
    """The states of ``every`` a ``name`` expression (``run*|fail*``) selects (all when absent)."""
    if raw is None:
        return tuple(every)
    try:
        groups = _groups(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw!r} has an empty term", name) from None
    for group in groups:
        for t in group:
            if "*" not in t.pattern and t.pattern not in every:
                allowed = ", ".join(every)
                raise InvalidInput(f"{name}: unknown state {t.pattern!r}; states: {allowed}", name)
    chosen = tuple(s for s in every if any(all(_term_matches(t, s) for t in g) for g in groups))
    if not chosen:
        raise InvalidInput(f"{name}: {raw!r} matches no {what}", name)
    return chosen


def parse_statuses(raw: str | None) -> tuple[str, ...]:
    """The job states a ``jobstatus`` expression selects (all when absent)."""
    return parse_states(raw, "jobstatus", [s.value for s in JobStatus])


def parse_terms(q: Mapping[str, str], name: str) -> tuple[tuple[Term, ...], ...]:
    """The ``|``/``,``/``!`` groups of a text filter; InvalidInput naming ``name`` for an empty term."""
    try:
        return _groups(q[name])
    except ValueError:
        raise InvalidInput(f"{name}: {q[name]!r} has an empty term", name) from None


def parse_ids(q: Mapping[str, str], name: str) -> tuple[int, ...]:
    """``1,2|3`` -> database integers; InvalidInput naming ``name``."""
    return _ints(name, q[name])


def parse_errors(raw: str) -> tuple[tuple[str, int], ...]:
    """``component:code|component:code`` -> pairs; the component may be a monitor alias."""
    out = []
    for part in raw.split("|"):
        comp, sep, code = part.strip().partition(":")
        if not sep:
            raise InvalidInput(f"errorcode: {part!r} is not component:code (e.g. pilot:1099)", "errorcode")
        try:
            component = parse_component(comp)
        except ValueError as exc:
            raise InvalidInput(f"errorcode: {exc}", "errorcode") from None
        out.append((component.value, _id("errorcode", code.strip())))
    return tuple(out)


def _ints(name: str, raw: str) -> tuple[int, ...]:
    return tuple(_id(name, v.strip()) for v in raw.replace("|", ",").split(",") if v.strip())


def parse_selection(q: Mapping[str, str], now: datetime, default_hours: int) -> tuple[Selection, Window]:
    matches: list[Match] = []
    for name, column in TEXT_PARAMS.items():
        if name in q:
            matches.append(Match(column, parse_terms(q, name)))
    if "jobtype" in q:
        if q["jobtype"] not in JOBTYPES:
            raise InvalidInput(f"jobtype: expected one of {', '.join(JOBTYPES)}", "jobtype")
        matches.append(Match("prod_source_label", _groups(JOBTYPES[q["jobtype"]])))
    ints = tuple((column, _ints(name, q[name])) for name, column in INT_PARAMS.items() if name in q)
    statuses = parse_statuses(q.get("jobstatus"))
    only_active = "jobstatus" in q and set(statuses) <= {s.value for s in ACTIVE_STATES}
    lift = only_active or any(k in q for k in SELECTIVE)
    window = parse_window(q, now, default_hours, lift=lift)
    errors = parse_errors(q["errorcode"]) if "errorcode" in q else ()
    sel = Selection(statuses, tuple(matches), ints, errors, window.since, window.until)
    return sel, window


def parse_sort(q: Mapping[str, str]) -> SortKey:
    raw = q.get("sortby", SortKey.TIME_DESC.value)
    aliases = {"pandaid": SortKey.ID_DESC.value}
    try:
        return SortKey(aliases.get(raw, raw))
    except ValueError:
        valid = ", ".join(k.value for k in SortKey)
        raise InvalidInput(f"sortby: unknown order {raw!r}; valid: {valid}", "sortby") from None


def parse_cursor(q: Mapping[str, str]) -> Cursor | None:
    """``cursor=<PandaID>`` or ``cursor=<ISO time>_<PandaID>`` (the next-page links carry it)."""
    raw = q.get("cursor")
    if raw is None:
        return None
    stamp, _, pid = raw.rpartition("_")
    try:
        return Cursor(datetime.fromisoformat(stamp) if stamp else None, _id("cursor", pid))
    except (ValueError, InvalidInput):
        raise InvalidInput(f"cursor: {raw!r} is not a page cursor", "cursor") from None


def format_cursor(time: datetime | None, panda_id: int) -> str:
    return f"{time.isoformat()}_{panda_id}" if time is not None else str(panda_id)
