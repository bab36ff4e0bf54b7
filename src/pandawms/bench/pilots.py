"""Simulated pilots over HTTP: what a real pilot says to the server for each job, without running it.

A round acquires up to ``n_jobs`` of a queue (``pilot/acquire_jobs``), reports each ``running``, then
``finished`` with an output report for every output and log file (GUID, size, adler32 and the RSE it
was written to, so the Adder registers them in the catalog), or ``failed`` with the pilot error the
``fail`` rule gives for the job. Used by ``panda bench jedi --run`` against a real server process and by
the db tests through a starlette TestClient (an ``httpx.Client``), so both exercise the same calls.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pandawms.protocol import paths


@dataclass(frozen=True, slots=True)
class PilotError:
    """How a simulated job fails: the pilot error code and diagnostic it reports."""

    code: int
    diag: str


FailRule = Callable[[Sequence[str]], PilotError | None]
"""From a job's input LFNs, the error it fails with (None: it finishes)."""


def never(inputs: Sequence[str]) -> PilotError | None:
    return None


def fail_once(lfn: str, error: PilotError) -> FailRule:
    """The first job reading ``lfn`` fails with ``error``; its retries finish."""
    seen: list[str] = []

    def rule(inputs: Sequence[str]) -> PilotError | None:
        if lfn in inputs and not seen:
            seen.append(lfn)
            return error
        return None

    return rule


@dataclass
class PilotRun:
    """What the pilots did: jobs ended, how many of them failed, the input LFNs of the failed ones."""

    jobs: int = 0
    failed: int = 0
    failed_inputs: list[str] = field(default_factory=list)


def output_report(lfn: str, endpoint: str) -> dict[str, object]:
    """The report of one produced file, as the pilot sends it in ``job_output_report``."""
    return {
        "guid": str(uuid.uuid5(uuid.NAMESPACE_URL, lfn)),
        "fsize": 1000,
        "adler32": f"{zlib.adler32(lfn.encode()):08x}",
        "endpoint": endpoint,
    }


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(url, json=body)
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    if not answer.get("success"):
        raise RuntimeError(f"{url}: {answer}")
    return answer


@dataclass(frozen=True, slots=True)
class Pilots:
    """Pilots of one queue writing their outputs to ``endpoint``; ``base`` is the API root URL ("" for a
    TestClient, whose paths are relative)."""

    client: httpx.Client
    base: str
    queue: str
    endpoint: str
    fail: FailRule = never
    n_jobs: int = 5
    node: str = "sim-wn"

    def run_job(self, job: dict[str, Any], run: PilotRun) -> None:
        """Report one acquired job running, then finished with its outputs or failed."""
        files = job["files"]
        inputs = [f["lfn"] for f in files if f["type"] == "input"]
        url = self.base + paths.PILOT_UPDATE_JOB
        _post(self.client, url, {"job_id": job["PandaID"], "job_status": "running", "node": self.node})
        error = self.fail(inputs)
        final: dict[str, Any] = {"job_id": job["PandaID"]}
        if error is None:
            produced = [f["lfn"] for f in files if f["type"] != "input"]
            outputs = {lfn: output_report(lfn, self.endpoint) for lfn in produced}
            final |= {"job_status": "finished", "job_output_report": outputs}
        else:
            final |= {"job_status": "failed", "pilot_error_code": error.code, "pilot_error_diag": error.diag}
            run.failed += 1
            run.failed_inputs.extend(inputs)
        _post(self.client, url, final)
        run.jobs += 1

    def run_round(self, run: PilotRun) -> int:
        """One acquire of up to ``n_jobs`` and each job run; how many jobs were handed out."""
        body = {"site_name": self.queue, "n_jobs": self.n_jobs, "node": self.node}
        jobs = _post(self.client, self.base + paths.PILOT_ACQUIRE_JOBS, body)["data"]["jobs"]
        for job in jobs:
            self.run_job(job, run)
        return len(jobs)

    def drain(self, max_rounds: int = 100) -> PilotRun:
        """Rounds until the queue has no activated job left (at most ``max_rounds``, else RuntimeError)."""
        run = PilotRun()
        for _ in range(max_rounds):
            if not self.run_round(run):
                return run
        raise RuntimeError(f"pilots still got jobs of {self.queue} after {max_rounds} rounds")
