"""A real one-node Slurm cluster for the tests: a private munged, slurmctld and slurmd as child processes.

Everything is private to one directory: the munge key and socket (``AuthInfo=socket=``), slurm.conf with
free loopback ports for SlurmctldPort and SlurmdPort, state, spool, logs and pid files. The node is this
machine with its real CPUs and memory (``slurmd -C``); OverSubscribe=FORCE lets several one-core pilots
share a CPU. There is no slurmdbd: ended jobs stay in squeue for MinJobAge, and sacct reads the job
completion file (``JobCompType=jobcomp/filetxt``, ``sacct --completion``). The daemons listen on
loopback with private ports (no network namespace: the factory and pilots must reach the server on the
host's loopback); they are stopped by PID. Needs root (CI and the dev VM run as root) and
``scripts/test-deps.sh`` (Debian's slurm-wlm and munge).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.livesupport.live_server import free_port

PARTITION = "pilots"


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *argv: str, timeout: float = 30) -> str:
        """A Slurm client command against this cluster; its stdout (AssertionError on failure)."""
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done.stdout

    def start_controller(self) -> None:
        self._start("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])

    def stop_controller(self) -> None:
        """SIGTERM slurmctld (it saves its state and exits); jobs go on running under slurmd."""
        _stop(self.procs.pop("slurmctld"))

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout", "ab")  # noqa: SIM115 (kept open by the child)
        self.procs[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited {proc.returncode}: {self.logs()}"
            done = subprocess.run(
                ["sinfo", "--noheader", "--format=%T"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            last = done.stdout.strip() or done.stderr.strip()
            if done.returncode == 0 and last in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.3)
        raise AssertionError(f"the Slurm node never became idle (last: {last!r}): {self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").iterdir()):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _node_line() -> str:
    """This machine as a Slurm node: its real CPUs, sockets, cores and memory, as slurmd -C sees them."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0]
    keep = re.findall(r"(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=(\d+)", first)
    return "NodeName=localhost " + " ".join(f"{k}={v}" for k, v in keep) + " State=UNKNOWN"


def write_conf(root: Path, socket: Path, over_subscribe: int) -> Path:
    for sub in ("state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        f"""ClusterName=pandawms-test
SlurmctldHost=localhost
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={root / "log" / "jobcomp.txt"}
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
MessageTimeout=10
SlurmctldTimeout=300
SlurmdTimeout=300
InactiveLimit=0
SchedulerParameters=sched_interval=2
{_node_line()}
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP \
  OverSubscribe=FORCE:{over_subscribe}
"""
    )
    return conf


def _start_munged(cluster: SlurmCluster, socket: Path) -> None:
    munge = cluster.root / "munge"
    munge.mkdir(mode=0o700)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    argv = [
        "munged",
        "--foreground",
        "--force",
        f"--socket={socket}",
        f"--key-file={key}",
        f"--pid-file={munge / 'munged.pid'}",
        f"--log-file={cluster.root / 'log' / 'munged.log'}",
        f"--seed-file={munge / 'munged.seed'}",
    ]
    cluster._start("munged", argv)
    deadline = time.monotonic() + 20
    while not socket.exists():
        assert cluster.procs["munged"].poll() is None, f"munged exited: {cluster.logs()}"
        assert time.monotonic() < deadline, "munged did not create its socket"
        time.sleep(0.05)


@contextmanager
def slurm_cluster(root: Path, *, over_subscribe: int = 8) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in ``root``; yields once the node is idle; stops them by PID."""
    missing = [cmd for cmd in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(cmd) is None]
    assert not missing, f"{missing} not installed: run scripts/test-deps.sh (slurm-wlm, munge)"
    assert os.geteuid() == 0, "the test Slurm cluster runs its daemons as root (as CI does)"
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "munge" / "munge.socket"
    conf = write_conf(root, socket, over_subscribe)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = SlurmCluster(root, conf, env)
    try:
        _start_munged(cluster, socket)
        cluster.start_controller()
        cluster._start("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(conf)])
        cluster.wait_idle()
        yield cluster
    finally:
        cluster.stop()
