"""Factory TOML: a full file, defaults and merging of pilot and backend options, and errors naming file,
queue and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pandawms.cli.demo import FACTORY_TOML
from pandawms.factory import (
    FactoryConfig,
    FactoryQueue,
    LocalBackendConfig,
    PilotOptions,
    load_factory_config,
)
from pandawms.factory.backends import SlurmBackendConfig
from pandawms.factory.factory import pilot_argv

FULL = """
[factory]
server_url = "http://127.0.0.1:25080"
harvester_id = "node1.factory"
cycle_interval = 30
workdir = "/tmp/pw-factory"
max_new_workers = 7
cancel_grace = 20
worker_dir_retention = 0

[factory.pilot]
heartbeat = 600
max_empty = 2
storage_dir = "/data/se"

[[queue]]
name = "Q1"
max_workers = 4
max_queued = 2
max_new = 1
[queue.pilot]
max_empty = 5
lifetime = 3600

[queue.backend]
type = "local"
cancel_grace = 5

[[queue]]
name = "Q2"
backend = "local"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "factory.toml"
    path.write_text(text)
    return path


def test_full_file(tmp_path: Path) -> None:
    cfg = load_factory_config(_write(tmp_path, FULL))
    assert cfg.server_url == "http://127.0.0.1:25080"
    assert (cfg.harvester_id, cfg.cycle_interval, cfg.max_new_workers) == ("node1.factory", 30.0, 7)
    assert cfg.workdir == Path("/tmp/pw-factory") and cfg.worker_dir_retention == 0.0
    q1, q2 = cfg.queues
    assert (q1.name, q1.max_workers, q1.queued_limit, q1.max_new) == ("Q1", 4, 2, 1)
    # a queue's [queue.backend] wins over [factory] cancel_grace, the default of every queue's backend
    assert q1.backend == LocalBackendConfig(cancel_grace=5.0)
    assert q2.backend == LocalBackendConfig(cancel_grace=20.0)
    # queue pilot options override the factory's, which override the defaults
    assert cfg.pilot_options(q1) == PilotOptions(
        heartbeat_interval=600, max_empty_acquires=5, lifetime=3600, storage_dir=Path("/data/se")
    )
    assert cfg.pilot_options(q2) == PilotOptions(
        heartbeat_interval=600, max_empty_acquires=2, storage_dir=Path("/data/se")
    )
    # safe non-zero defaults: max_queued follows max_workers
    assert (q2.max_workers, q2.queued_limit, q2.max_new) == (10, 10, 0)


def test_server_flag_wins_and_harvester_id_defaults_to_host_pid(tmp_path: Path) -> None:
    text = '[[queue]]\nname = "Q"\n'
    cfg = load_factory_config(_write(tmp_path, text), server_url="http://h:1")
    assert cfg.server_url == "http://h:1"
    assert cfg.harvester_id.endswith(f"-{__import__('os').getpid()}")
    assert cfg.cycle_interval == 60.0
    # a queue without a [queue.backend] table runs local pilots with the backend's defaults
    assert cfg.queues[0].backend == LocalBackendConfig() and LocalBackendConfig().cancel_grace == 60.0


def test_demo_config_parses(tmp_path: Path) -> None:
    token = tmp_path / "factory.token"
    text = FACTORY_TOML.format(workdir=tmp_path / "factory", storage=tmp_path / "storage", token=token)
    cfg = load_factory_config(_write(tmp_path, text), server_url="http://127.0.0.1:1")
    assert [q.name for q in cfg.queues] == ["LOCAL_SMALL", "LOCAL_MEDIUM", "LOCAL_HIMEM"]
    assert {q.backend for q in cfg.queues} == {LocalBackendConfig(cancel_grace=15.0)}
    assert cfg.pilot.max_empty_acquires == 2 and cfg.pilot.storage_dir == tmp_path / "storage"
    assert cfg.token_file == token  # the factory and its pilots send the demo's factory token


def test_pilot_command_line(tmp_path: Path) -> None:
    cfg = FactoryConfig(
        server_url="http://h:1",
        queues=(FactoryQueue("Q"),),
        pilot=PilotOptions(
            heartbeat_interval=1,
            max_empty_acquires=1,
            storage_dir=Path("/se"),
            prod_source_label="managed",
            cores=2,
        ),
    )
    argv = pilot_argv(cfg, cfg.queues[0], 42, tmp_path / "w")
    assert argv[1:4] == ("-m", "pandawms.cli.main", "pilot")
    flags = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert flags == {
        "--server": "http://h:1",
        "--queue": "Q",
        "--worker-id": "42",
        "--workdir": str(tmp_path / "w"),
        "--heartbeat": "1.0",
        "--lifetime": "324000.0",
        "--kill-grace": "10.0",
        "--memory-factor": "2.0",
        "--looping-timeout": "7200.0",
        "--max-empty": "1",
        "--memory": "0",
        "--disk": "0",
        "--cores": "2",
        "--max-jobs": "1",
        "--storage-dir": "/se",
        "--stageout-attempts": "3",
        "--label": "managed",
    }


SMALL = "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'SMALL'\n"
BAD = [
    ("[[queue]]\nname = 'Q'\n", "server_url: missing"),
    ("[factory]\nserver_url = 'ftp://x'\n[[queue]]\nname = 'Q'\n", "[factory]: server_url: must be an http"),
    ("[factory]\nserver_url = 'http://x'\n", "no [[queue]] table"),
    (
        "[factory]\nserver_url = 'http://x'\ncycle = 3\n[[queue]]\nname = 'Q'\n",
        "[factory]: cycle: unknown field",
    ),
    (
        "[factory]\nserver_url = 'http://x'\nharvester_id = 'a b'\n[[queue]]\nname='Q'\n",
        "harvester_id: must be",
    ),
    (
        "[factory]\nserver_url = 'http://x'\ncycle_interval = 'x'\n[[queue]]\nname='Q'\n",
        "cycle_interval: must be a number",
    ),
    (
        "[factory]\nserver_url = 'http://x'\nmax_new_workers = 0\n[[queue]]\nname='Q'\n",
        "max_new_workers: must be >= 1",
    ),
    ("[factory]\nserver_url = 'http://x'\n[[queue]]\nmax_workers = 3\n", "[[queue]] #1: name: must be"),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\nmax_workers = 0\n",
        'queue "Q": max_workers: must be >= 1',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\nmax_workers = true\n",
        'queue "Q": max_workers: must be an integer',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\nmax_queued = 0\n",
        'queue "Q": max_queued: must be >= 1',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\nbackend = 'pbs'\n",
        "queue \"Q\": backend.type: unknown backend 'pbs' (known: local, slurm)",
    ),
    (
        SMALL + "[queue.backend]\ntype = 'condor'\n",
        "queue \"SMALL\": backend.type: unknown backend 'condor' (known: local, slurm)",
    ),
    (
        SMALL + "[queue.backend]\ncancel_grace = -1\n",
        'queue "SMALL": backend.cancel_grace: must be >= 0',
    ),
    (
        SMALL + "[queue.backend]\ncancel_grace = 'x'\n",
        'queue "SMALL": backend.cancel_grace: must be a number',
    ),
    (
        SMALL + "[queue.backend]\npartition = 'short'\n",
        'queue "SMALL": backend.partition: unknown field (known: cancel_grace, type)',
    ),
    (
        SMALL + "backend = 3\n",
        'queue "SMALL": backend: must be a table, got 3',
    ),
    (
        "[factory]\nserver_url = 'http://x'\ncancel_grace = -1\n[[queue]]\nname = 'Q'\n",
        "[factory]: cancel_grace: must be >= 0",
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\nmaxWorkers = 3\n",
        'queue "Q": maxWorkers: unknown field',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\n[queue.pilot]\nmax_empty = 0\n",
        'queue "Q": pilot.max_empty: must be >= 1',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\n[queue.pilot]\nlabel = 3\n",
        'queue "Q": pilot.label: must be a non-empty string',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\npilot = 'fast'\n",
        'queue "Q": pilot: must be a table',
    ),
    (
        "[factory]\nserver_url = 'http://x'\n[factory.pilot]\nbeat = 1\n[[queue]]\nname = 'Q'\n",
        "[factory]: pilot.beat: unknown field",
    ),
    ("[factory]\nserver_url = 'http://x'\n[[queue]]\nname = 'Q'\n[[queue]]\nname = 'Q'\n", "listed twice: Q"),
    ("[factory]\nserver_url = 'http://x'\n[queues]\n", "unknown top-level table(s): queues"),
    ("[factory\n", "cannot read factory config"),
    (
        SMALL + "[queue.backend]\ntype = 'slurm'\narray_max = 0\n",
        'queue "SMALL": backend.array_max: must be >= 1',
    ),
    (SMALL + "[queue.backend]\ntype = 'slurm'\nsbatch_args = '--x'\n", "backend.sbatch_args: must be a list"),
    (SMALL + "[queue.backend]\ntype = 'slurm'\nparition = 'p'\n", "backend.parition: unknown field"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_config_names_file_queue_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        load_factory_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_slurm_backend_table(tmp_path: Path) -> None:
    # given a queue on Slurm with its site options
    text = SMALL + (
        "[queue.backend]\ntype = 'slurm'\npartition = 'grid'\naccount = 'atlas'\nqos = 'pilot'\n"
        "sbatch_args = ['--exclusive', '--constraint=ssd']\nsignal_lead = 120\nslurm_conf = '/etc/s.conf'\n"
        "sacct_args = ['--completion']\n"
    )
    # when it is loaded, then every option is typed on the queue's backend config
    (queue,) = load_factory_config(_write(tmp_path, text)).queues
    assert queue.backend == SlurmBackendConfig(
        partition="grid",
        account="atlas",
        qos="pilot",
        sbatch_args=("--exclusive", "--constraint=ssd"),
        signal_lead=120,
        slurm_conf=Path("/etc/s.conf"),
        sacct_args=("--completion",),
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read factory config"):
        load_factory_config(tmp_path / "nope.toml")
