"""The hourly aggregates of final jobs equal a GROUP BY over the jobs table, before and after the fold,
whatever moved (seeded retimes, a final job's later update, a job leaving a final state)."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text

from pandawms.agents.job_stats import fold_all
from pandawms.db import job_stats as js
from pandawms.db import job_stats_fold, migrate
from pandawms.db.engine import Database
from pandawms.monitor import summaries as sm
from pandawms.monitor.gather import histograms
from pandawms.monitor.seed import seed_jobs
from tests.conftest import FrozenClock

FINAL = ("finished", "failed", "cancelled", "closed")
COMPONENTS = ("pilot", "exe", "ddm", "jobdispatcher", "taskbuffer", "brokerage", "sup")


def _epoch(t: datetime | str | None) -> int | None:
    if t is None:
        return None
    if isinstance(t, str):  # SQLite's text form
        t = datetime.fromisoformat(t)
    return calendar.timegm(t.timetuple())


def _expected(db: Database) -> tuple[dict[tuple[Any, ...], list[int]], Counter[tuple[Any, ...]]]:
    """(stats key -> [jobs, cpu, *wall, *mem], error key -> jobs) computed here from the jobs rows."""
    codes = ", ".join(f"{c}_error_code" for c in COMPONENTS)
    sql = (
        "SELECT job_status, modification_time, computing_site, prod_user_name, prod_source_label, "
        f"attempt_nr, cpu_consumption_time, start_time, end_time, max_pss, core_count, {codes} FROM jobs"
    )
    stats: dict[tuple[Any, ...], list[int]] = {}
    errors: Counter[tuple[Any, ...]] = Counter()
    with db.read() as conn:
        rows = conn.execute(text(sql)).all()
    for status, mod, site, user, label, attempt, cpu, start, end, pss, cores, *values in rows:
        if status not in FINAL:
            continue
        t = _epoch(mod)
        assert t is not None
        hour = t - t % 3600
        key = (hour, site or "", user, label, status, attempt)
        acc = stats.setdefault(key, [0] * (2 + 22))
        acc[0] += 1
        acc[1] += cpu or 0
        s, e = _epoch(start), _epoch(end)
        if s is not None and e is not None and e >= s:
            acc[2 + sm.histogram([e - s], sm.WALLTIME_EDGES).index(1)] += 1
        if pss:
            acc[13 + sm.histogram([pss / 1024 / max(cores, 1)], sm.MEMORY_EDGES).index(1)] += 1
        if status == "failed":
            for comp, code in zip(COMPONENTS, values, strict=True):
                if code:
                    errors[(hour, site or "", user, label, comp, code)] += 1
    return stats, errors


def _aggregated(db: Database) -> tuple[dict[tuple[Any, ...], list[int]], Counter[tuple[Any, ...]]]:
    with db.read() as conn:
        rows = js.hourly(conn, js.Window(None, 2**40, FINAL))
        errs = js.error_hourly(conn, js.Window(None, 2**40, FINAL))
    stats = {
        (r.hour, r.site, r.user, r.label, r.status, r.attempt): [r.jobs, r.cpu, *r.wall, *r.mem] for r in rows
    }
    errors = Counter({(r.hour, r.site, r.user, r.label, r.component, r.code): r.jobs for r in errs})
    return stats, errors


def test_aggregates_equal_the_jobs_table(db: Database, clock: FrozenClock) -> None:
    # given a seeded history (inserted, then re-timed: every final job moved hour once)
    seed_jobs(db, 500, now=clock(), seed=3)
    expected = _expected(db)
    assert sum(v[0] for v in expected[0].values()) > 300 and expected[1]
    # then the aggregates (with any pending deltas) equal the table, and the fold changes nothing
    assert _aggregated(db) == expected
    fold_all(db)
    with db.read() as conn:
        assert job_stats_fold.pending(conn) == 0
    assert _aggregated(db) == expected


def test_changes_to_final_jobs_move_their_counts(db: Database, clock: FrozenClock) -> None:
    # given
    seed_jobs(db, 300, now=clock(), seed=5)
    fold_all(db)
    later = clock() + timedelta(hours=3)
    # when final jobs are re-timed, moved to another queue, given a new code, and one leaves a final state
    with db.write() as conn:
        conn.execute(
            text("UPDATE jobs SET modification_time = :t WHERE job_status = 'finished' AND panda_id % 3 = 0"),
            {"t": later},
        )
        conn.execute(
            text(
                "UPDATE jobs SET computing_site = 'ELSEWHERE' "
                "WHERE job_status = 'failed' AND panda_id % 2 = 0"
            )
        )
        conn.execute(
            text("UPDATE jobs SET pilot_error_code = 1234 WHERE job_status = 'failed' AND panda_id % 5 = 0")
        )
        first = text("SELECT min(panda_id) FROM jobs WHERE job_status = 'cancelled'")
        one = conn.execute(first).scalar_one()
        conn.execute(text("UPDATE jobs SET job_status = 'running' WHERE panda_id = :p"), {"p": one})
        conn.execute(
            text("UPDATE jobs SET max_pss = 999999 WHERE job_status = 'running'")
        )  # not final: no delta
    # then the aggregates follow, with the deltas pending and once folded
    expected = _expected(db)
    assert _aggregated(db) == expected
    fold_all(db)
    assert _aggregated(db) == expected
    with db.read() as conn:  # a decrement that emptied a row removed it
        zero = conn.execute(text("SELECT count(*) FROM job_stats WHERE jobs = 0")).scalar_one()
    assert zero == 0


def test_a_fold_takes_the_oldest_deltas_a_limit_at_a_time(db: Database, clock: FrozenClock) -> None:
    # given pending deltas (final jobs moved an hour after the seed's fold)
    seed_jobs(db, 300, now=clock(), seed=9)
    with db.write() as conn:
        conn.execute(
            text("UPDATE jobs SET modification_time = :t WHERE job_status IN ('finished', 'failed')"),
            {"t": clock() + timedelta(hours=1)},
        )
    ids = text("SELECT row_id FROM job_stats_delta ORDER BY row_id")
    with db.read() as conn:
        before = [int(r) for r in conn.execute(ids).scalars()]
    assert len(before) > 40
    # when one fold of 7 runs
    with db.write() as conn:
        assert job_stats_fold.fold(conn, 7) == 7
        after = [int(r) for r in conn.execute(ids).scalars()]
    # then exactly the 7 oldest went, and folds of 7 until a short one leave the aggregates right
    assert after == before[7:]
    while True:
        with db.write() as conn:
            if job_stats_fold.fold(conn, 7) < 7:
                break
    with db.read() as conn:
        assert job_stats_fold.pending(conn) == 0
    assert _aggregated(db) == _expected(db)


def test_a_pass_folds_what_was_pending_when_it_began(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given pending deltas, and final jobs that keep changing while the pass runs (a stream of them)
    seed_jobs(db, 300, now=clock(), seed=11)
    with db.write() as conn:
        conn.execute(
            text("UPDATE jobs SET modification_time = :t WHERE job_status IN ('finished', 'failed')"),
            {"t": clock() + timedelta(hours=1)},
        )
    with db.read() as conn:
        at_start = job_stats_fold.pending(conn)
    assert at_start > 40
    turns = 0
    real_fold = job_stats_fold.fold

    def fold_while_jobs_change(conn: Connection, limit: int) -> int:
        nonlocal turns
        turns += 1
        retime = text(
            "UPDATE jobs SET modification_time = :t WHERE job_status = 'finished' AND panda_id % 7 = :k"
        )
        conn.execute(retime, {"t": clock() + timedelta(hours=2 + turns), "k": turns % 7})
        return real_fold(conn, limit)

    monkeypatch.setattr(job_stats_fold, "fold", fold_while_jobs_change)
    # when one pass runs
    folded = fold_all(db, total=100_000)
    # then it ends after as many deltas as it found (``pending`` counts both tables, a fold's count is
    # the larger one's; on PostgreSQL the pass is one transaction, so it cannot chase a stream anyway), and
    # readers still see the jobs table
    assert turns >= 1 and 0 < folded <= at_start
    assert _aggregated(db) == _expected(db)


def test_the_latest_occurrence_and_its_job(db: Database, clock: FrozenClock) -> None:
    seed_jobs(db, 400, now=clock(), seed=11)
    fold_all(db)
    with db.read() as conn:
        rows = js.error_hourly(conn, js.Window(None, 2**40, FINAL))
        codes = ", ".join(f"{c}_error_code" for c in COMPONENTS)
        failed = conn.execute(
            text(
                "SELECT panda_id, modification_time, computing_site, prod_user_name, prod_source_label, "
                f"{codes} FROM jobs WHERE job_status = 'failed'"
            )
        ).all()
    assert rows
    for r in rows:
        seen = [
            (_epoch(mod), pid)
            for pid, mod, site, user, label, *values in failed
            if ((site or ""), user, label) == (r.site, r.user, r.label)
            and dict(zip(COMPONENTS, values, strict=True))[r.component] == r.code
            and (_epoch(mod) or 0) // 3600 * 3600 == r.hour
        ]
        assert max(seen) <= (r.latest, r.sample_pid)
        assert (r.latest, r.sample_pid) in seen


def _rollup(
    expected: dict[tuple[Any, ...], list[int]], start: int | None, end: int
) -> dict[tuple[Any, ...], list[int]]:
    out: dict[tuple[Any, ...], list[int]] = {}
    for (hour, *rest), values in expected.items():
        if (start is None or hour >= start) and hour < end:
            acc = out.setdefault(tuple(rest), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
    return out


def _per_hour(
    stats: dict[tuple[Any, ...], list[int]], start: int | None, end: int
) -> dict[tuple[Any, ...], int]:
    out: Counter[tuple[Any, ...]] = Counter()
    for (hour, _site, _user, _label, state, _attempt), values in stats.items():
        if (start is None or hour >= start) and hour < end:
            out[(hour, state)] += values[0]
    return {k: n for k, n in out.items() if n}


def _codes_per_hour(
    errors: Counter[tuple[Any, ...]], start: int | None, end: int
) -> dict[tuple[Any, ...], int]:
    out: Counter[tuple[Any, ...]] = Counter()
    for (hour, _site, _user, _label, comp, code), n in errors.items():
        if (start is None or hour >= start) and hour < end:
            out[(hour, comp, code)] += n
    return {k: n for k, n in out.items() if n}


def _charted(db: Database) -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], int]]:
    """The unfiltered per-hour reads (pending deltas plus the per-hour totals) over all time."""
    w = js.Window(None, 2**40, FINAL)
    with db.read() as conn:
        states = {(h, s): n for h, s, n in js.by_hour(conn, w)}
        codes = {(h, c, code): n for h, c, code, n in js.errors_by_hour(conn, w)}
    return states, codes


def test_per_hour_totals_follow_moves_and_the_migration(db: Database, clock: FrozenClock) -> None:
    # given a folded history whose final jobs then move hour, queue, code and state (deltas pending)
    seed_jobs(db, 300, now=clock(), seed=17)
    fold_all(db)
    with db.write() as conn:
        conn.execute(
            text("UPDATE jobs SET modification_time = :t WHERE job_status = 'failed' AND panda_id % 3 = 0"),
            {"t": clock() + timedelta(hours=2)},
        )
        conn.execute(text("UPDATE jobs SET pilot_error_code = 4321 WHERE job_status = 'failed'"))
        conn.execute(text("UPDATE jobs SET job_status = 'running' WHERE job_status = 'closed'"))
    stats, errors = _expected(db)
    want = (_per_hour(stats, None, 2**40), _codes_per_hour(errors, None, 2**40))
    assert want[0] and want[1]
    # then the per-hour reads equal the table pending and folded, and no emptied row stays
    assert _charted(db) == want
    fold_all(db)
    assert _charted(db) == want
    with db.read() as conn:
        for table in ("job_stats_by_hour", "job_error_stats_by_hour"):
            assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE jobs = 0")).scalar_one() == 0
    # when migration 0022 is undone and redone, its backfill (from the hourly rows) gives the same totals
    cfg = migrate.alembic_config()
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0021")
    migrate.upgrade(db)
    assert _charted(db) == want


def test_windows_read_days_and_hours_alike(db: Database, clock: FrozenClock) -> None:
    # given a history over days, folded (hourly and daily rows) with a few deltas still pending
    seed_jobs(db, 600, now=clock(), seed=13)
    fold_all(db)
    with db.write() as conn:
        conn.execute(text("UPDATE jobs SET attempt_nr = attempt_nr + 10 WHERE job_status = 'closed'"))
    stats, errors = _expected(db)
    hours = sorted({k[0] for k in stats})
    first, last = hours[0], hours[-1] + 3600
    windows = [(None, last), (first, last), (first + 5 * 3600, last - 7 * 3600), (last - 30 * 3600, last)]
    for start, end in windows:
        w = js.Window(start, end, FINAL)
        with db.read() as conn:
            keyed = js.by_key(conn, w)
            got = {(r.site, r.user, r.label, r.status, r.attempt): [r.jobs, r.cpu] for r in keyed}
            hists = histograms(keyed)
            per_hour = {(h, s): n for h, s, n in js.by_hour(conn, w)}
            errs = {(r.site, r.user, r.label, r.component, r.code): r.jobs for r in js.errors_by_key(conn, w)}
        want = _rollup(stats, start, end)
        # then every grouping equals the table's over exactly that window
        assert got == {k: v[:2] for k, v in want.items()}, (start, end)
        for status in FINAL:
            rows = [v for k, v in want.items() if k[3] == status]
            if rows:
                assert hists[status] == (
                    tuple(sum(v[2 + i] for v in rows) for i in range(11)),
                    tuple(sum(v[13 + i] for v in rows) for i in range(11)),
                )
        assert sum(per_hour.values()) == sum(v[0] for v in want.values())
        assert per_hour == _per_hour(stats, start, end), (start, end)
        with db.read() as conn:
            codes = {(h, c, code): n for h, c, code, n in js.errors_by_hour(conn, w)}
        assert codes == _codes_per_hour(errors, start, end), (start, end)
        want_errors: Counter[tuple[Any, ...]] = Counter()
        for (hour, *rest), n in errors.items():
            if (start is None or hour >= start) and hour < end:
                want_errors[tuple(rest)] += n
        assert errs == dict(want_errors)


def test_the_0023_trigger_writes_the_rows_0021s_did(db: Database, clock: FrozenClock) -> None:
    # given a folded history; each variant of the function then sees the same changes in a transaction
    # that is rolled back: final jobs moving hour, queue and code, one leaving a final state
    seed_jobs(db, 300, now=clock(), seed=23)
    fold_all(db)
    later = clock() + timedelta(hours=2)
    changes: tuple[tuple[str, dict[str, Any]], ...] = (
        (
            "UPDATE jobs SET modification_time = :t WHERE job_status = 'finished' AND panda_id % 2 = 0",
            {"t": later},
        ),
        (
            "UPDATE jobs SET computing_site = 'ELSEWHERE', pilot_error_code = 77 WHERE job_status = 'failed'",
            {},
        ),
        ("UPDATE jobs SET job_status = 'running' WHERE job_status = 'closed'", {}),
        ("UPDATE jobs SET max_pss = 4000000, core_count = 3 WHERE job_status = 'cancelled'", {}),
        # final jobs changing no aggregated column, and heartbeats of jobs not final: no delta either way
        ("UPDATE jobs SET job_name = 'renamed', pilot_id = 'p' WHERE job_status = 'finished'", {}),
        ("UPDATE jobs SET modification_time = :t, max_rss = 1 WHERE job_status = 'running'", {"t": later}),
    )
    columns = (
        "hour, computing_site, prod_user_name, prod_source_label, state, attempt_nr, jobs, cpu_seconds, "
    )
    columns += ", ".join([f"w{i}" for i in range(11)] + [f"m{i}" for i in range(11)])
    errors = "hour, computing_site, prod_user_name, prod_source_label, component, code, jobs, latest"

    def deltas() -> tuple[list[Any], list[Any]]:
        with db.writer.connect() as conn, conn.begin() as tx:
            for sql, params in changes:
                conn.execute(text(sql), params)
            stats = conn.execute(text(f"SELECT {columns} FROM job_stats_delta ORDER BY row_id")).all()
            errs = conn.execute(text(f"SELECT {errors} FROM job_error_stats_delta ORDER BY row_id")).all()
            tx.rollback()
        return [tuple(r) for r in stats], [tuple(r) for r in errs]

    # when the rows of 0023's function (the head) and of 0021's (0023 undone) are compared
    fenced = deltas()
    cfg = migrate.alembic_config()
    with db.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0022")
    unfenced = deltas()
    migrate.upgrade(db)
    # then they are the same rows, hundreds of them, with walltime and memory buckets filled
    assert fenced == unfenced
    assert len(fenced[0]) > 200 and fenced[1]
    assert any(sum(r[8:19]) for r in fenced[0]) and any(sum(r[19:30]) for r in fenced[0])
    if not db.is_sqlite:  # and the head's function is the fenced one, its UPDATE trigger's WHEN the short one
        with db.read() as conn:
            source = conn.execute(text("SELECT pg_get_functiondef('job_stats_delta'::regproc)")).scalar_one()
            trigger = conn.execute(
                text("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'job_stats_update'")
            ).scalar_one()
        assert "OFFSET 0" in source and "IS DISTINCT FROM" in source
        assert "WHEN" in trigger and "IS DISTINCT FROM" not in trigger
