"""Retry decisions and typed configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from pandawms.config import load_config
from pandawms.core.retry import SYSTEM_CLOSURE_CAP, decide_retry, parse_error_keys
from pandawms.core.specs import ErrorComponent, JobErrors

NR = parse_error_keys(["pilot:1346", "exe:65"])


JD = ErrorComponent.JOBDISPATCHER


@pytest.mark.parametrize(
    ("attempt", "max_attempt", "codes", "killed", "closures", "retry", "extra"),
    [
        (1, 3, {ErrorComponent.PILOT: 1305}, False, 0, True, False),
        (3, 3, {ErrorComponent.PILOT: 1305}, False, 0, False, False),
        (1, 3, {ErrorComponent.PILOT: 1346}, False, 0, False, False),
        (1, 3, {ErrorComponent.EXE: 65}, False, 0, False, False),
        (1, 3, {}, True, 0, False, False),
        (1, 1, {}, False, 0, False, False),
        # a job lost in dispatch (sent, no pilot reply) is a system closure: retried with one more attempt
        (1, 1, {JD: 102}, False, 0, True, True),
        (3, 3, {JD: 102}, False, 2, True, True),
        # ... at most SYSTEM_CLOSURE_CAP times in a chain; the next one is an ordinary failure
        (4, 4, {JD: 102}, False, 3, False, False),
        (4, 6, {JD: 102}, False, 3, True, False),
        # not when the job also failed for a reason of its own, was killed, or ran (a lost heartbeat)
        (1, 1, {JD: 102, ErrorComponent.PILOT: 1305}, False, 0, False, False),
        (1, 1, {JD: 100}, False, 0, False, False),
        (1, 1, {JD: 102}, True, 0, False, False),
        (1, 1, {JD: 102}, False, 0, True, True),
    ],
)
def test_decide_retry(
    attempt: int,
    max_attempt: int,
    codes: dict[ErrorComponent, int],
    killed: bool,
    closures: int,
    retry: bool,
    extra: bool,
) -> None:
    got = decide_retry(attempt, max_attempt, JobErrors(codes=codes), NR, killed, system_closures=closures)
    assert (got.retry, got.extra_attempt) == (retry, extra), got.reason


def test_a_job_lost_in_dispatch_again_and_again_ends_after_the_cap() -> None:
    # given a maxAttempt=1 job closed by the sent timeout at every attempt, each retry as termination makes it
    attempt, max_attempt, closures = 1, 1, 0
    while True:
        got = decide_retry(attempt, max_attempt, JobErrors(codes={JD: 102}), NR, system_closures=closures)
        if not got.retry:
            break
        attempt, max_attempt, closures = attempt + 1, max_attempt + int(got.extra_attempt), closures + 1
        assert attempt < 20, "never ends"
    # then it ends after SYSTEM_CLOSURE_CAP free closures and the user's one attempt
    assert (attempt, closures) == (1 + SYSTEM_CLOSURE_CAP, SYSTEM_CLOSURE_CAP)
    assert "no attempts left" in got.reason


def test_a_system_closure_does_not_use_up_a_user_attempt() -> None:
    # maxAttempt=1, lost in dispatch once: the retry (attempt 2 of 2) may not fail and retry again
    first = decide_retry(1, 1, JobErrors(codes={JD: 102}), NR)
    assert first.retry and first.extra_attempt and "attempt 2 of 2" in first.reason
    assert not decide_retry(2, 2, JobErrors(codes={ErrorComponent.PILOT: 1305}), NR, system_closures=1).retry


def test_parse_error_keys_rejects_bad_entries() -> None:
    with pytest.raises(ValueError, match="'pilot1346'"):
        parse_error_keys(["pilot1346"])
    with pytest.raises(ValueError, match="'nobody:1'"):
        parse_error_keys(["nobody:1"])


def test_config_precedence_file_env_overrides(tmp_path: Path) -> None:
    f = tmp_path / "panda.toml"
    f.write_text('[server]\nport = 1111\nhost = "0.0.0.0"\n[server.watchdog]\nlost_heartbeat = 60\n')
    cfg = load_config(
        f, env={"PANDA_PORT": "2222", "PANDA_WATCHDOG_SENT_TIMEOUT": "5"}, overrides={"host": "h"}
    )
    assert (cfg.port, cfg.host, cfg.watchdog.lost_heartbeat, cfg.watchdog.sent_timeout) == (2222, "h", 60, 5)
    assert cfg.resolved_db_url.startswith("sqlite:///")


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port"):
        load_config(env={"PANDA_PORT": "eighty"})
    f = tmp_path / "panda.toml"
    f.write_text("[server]\ncolour = 1\n")
    with pytest.raises(ValueError, match="colour"):
        load_config(f, env={})
    with pytest.raises(ValueError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ValueError, match="monitor_cache_seconds"):
        load_config(env={"PANDA_MONITOR_CACHE_SECONDS": "-1"})
    assert load_config(env={"PANDA_MONITOR_CACHE_SECONDS": "0"}).monitor_cache_seconds == 0.0


def test_settings_that_did_nothing_are_refused_or_honoured(tmp_path: Path) -> None:
    f = tmp_path / "panda.toml"
    f.write_text("[server]\nworkers = 4\n")
    assert load_config(f, env={}).workers == 4
    with pytest.raises(ValueError, match=r"workers: must be 1\.\.256"):
        load_config(env={"PANDA_WORKERS": "0"})
    with pytest.raises(ValueError, match=r"default_max_attempt: must be 1\.\.50"):
        load_config(env={"PANDA_DEFAULT_MAX_ATTEMPT": "0"})
    assert load_config(env={"PANDA_DEFAULT_MAX_ATTEMPT": "5"}).default_max_attempt == 5


def test_the_jedi_control_agents_intervals_come_from_the_environment() -> None:
    from pandawms.agents.jedi_control import control_settings

    env = {"PANDA_JEDI_SCOUT_INTERVAL": "2", "PANDA_JEDI_POSTPROCESSOR_INTERVAL": "1.5"}
    settings = control_settings(load_config(env=env).jedi)
    assert (settings.scout_interval, settings.postprocessor_interval, settings.watchdog_interval) == (
        2,
        1.5,
        300,
    )
    with pytest.raises(ValueError, match=r"jedi\.scout_interval"):
        load_config(env={"PANDA_JEDI_SCOUT_INTERVAL": "0"})


def test_the_lease_settings_are_typed_and_checked() -> None:
    cfg = load_config(env={"PANDA_LEASE_TTL": "6", "PANDA_LEASE_RENEW_INTERVAL": "1.5"})
    assert (cfg.lease.ttl, cfg.lease.renew_interval) == (6.0, 1.5)
    assert (load_config(env={}).lease.ttl, load_config(env={}).lease.renew_interval) == (45.0, 5.0)
    with pytest.raises(ValueError, match=r"lease\.ttl: must be >= 2 x lease\.renew_interval"):
        load_config(env={"PANDA_LEASE_TTL": "3", "PANDA_LEASE_RENEW_INTERVAL": "2"})
    with pytest.raises(ValueError, match=r"lease\.renew_interval: must be > 0"):
        load_config(env={"PANDA_LEASE_RENEW_INTERVAL": "0"})
