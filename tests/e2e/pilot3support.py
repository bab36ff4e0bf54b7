"""The real pilot3 from PyPI (``panda-pilot``), fetched once into a cache outside the tree, and a runner
that starts it against a pandawms server the way a site would: its own options, a site config file, no
change to its code.

pilot3's sdist has no dependencies and no installed entry point (``pilot.py`` is run from the unpacked
source), and installing it would put a top-level ``pilot`` package into the project's venv, so it is
unpacked into ``$PANDAWMS_PILOT3_CACHE`` (default ``/tmp/pandawms-pilot3``) instead of being a test
extra. Every run has ``PILOT_NOKILL=1`` (otherwise pilot3 kills every process of its user whose parent
is pid 1) and, where ``unshare`` works (root), its own pid namespace as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.7.0.36"  # what PyPI has (the 3.11 wire calls are covered by tests/db/test_compat_pilot.py)
CACHE = Path(os.environ.get("PANDAWMS_PILOT3_CACHE", "/tmp/pandawms-pilot3"))


def source() -> Path:
    """The unpacked pilot3 source (``pilot.py`` + ``pilot/``), downloaded from PyPI on first use."""
    root = CACHE / VERSION
    if (root / "pilot.py").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        cmd += ["--disable-pip-version-check", "-q", f"panda-pilot=={VERSION}", "-d", tmp]
        subprocess.run(cmd, check=True, timeout=300)
        [tarball] = Path(tmp).glob("panda*pilot-*.tar.gz")
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data")
        [unpacked] = [p for p in Path(tmp).iterdir() if p.is_dir()]
        try:
            unpacked.rename(root)  # atomic: a concurrent run finds a whole tree or none
        except OSError:
            if not (root / "pilot.py").exists():
                raise
    return root


def site_config(path: Path, heartbeat: int) -> Path:
    """pilot3's own default.cfg with the site's heartbeat period (read via HARVESTER_PILOT_CONFIG)."""
    text = (source() / "pilot" / "util" / "default.cfg").read_text()
    text = text.replace("\nheartbeat: 1800\n", f"\nheartbeat: {heartbeat}\n")
    path.write_text(text)
    return path


def isolation() -> list[str]:
    """``unshare --pid --fork --mount-proc`` when it works here, else nothing (PILOT_NOKILL still set)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=30
    )
    return [unshare, "--pid", "--fork", "--mount-proc"] if probe.returncode == 0 else []


def command(
    root: str, queue: str, site: str, workdir: Path, input_dir: str, label: str = "ptest"
) -> list[str]:
    """pilot3's command line for ``queue`` at the server ``root`` (http://127.0.0.1:PORT)."""
    host, _, port = root.rpartition(":")
    return [
        *isolation(),
        sys.executable,
        str(source() / "pilot.py"),
        "-q", queue, "-r", queue, "-s", site,
        "-j", label, "-w", "generic", "--pilot-user", "generic",
        "--url", host, "--port", port,
        "--queuedata-url", root + "/cache/schedconfig/{pandaqueue}.all.json",
        "--storagedata-url", root + "/cache/ddmendpoints.json",
        "-a", str(workdir),
        "--input-destination-dir", input_dir,
        "--getjobfailures", "1",  # leave after the first "no job" (StatusCode 20)
        "--use-rucio-traces", "False",
        "--cleanup", "False",
        "-t",  # no X.509 proxy to verify: pandawms pilots use tokens
    ]  # fmt: skip


def environment(root: str, queue: str, config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PILOT_NOKILL": "1",
        "HARVESTER_PILOT_CONFIG": str(config),
        # CRIC's full schedconfig comes from the server too (pilot3 would otherwise try atlas-cric)
        "LOCAL_AGIS_SCHEDCONF": f"{root}/cache/schedconfig/{queue}.json",
    }
