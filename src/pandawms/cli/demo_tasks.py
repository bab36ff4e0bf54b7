"""The task workload of ``panda demo``: what it submits with ``task/submit`` and how it reports on it.

Three tasks, as a physicist would ask for them (PanDA's task-parameter JSON, protocol/tasks.py):

1. **generation** (``demo.gen``, no input): ``nEvents`` Monte Carlo events in jobs of ``nEventsPerJob``
   (pandawms.examples.mc_pi, one output file each into ``demo:demo.gen`` at LOCAL_DISK). Its first jobs
   are scouts: what they measure (cpuTime per event, ramCount, outDiskCount) sizes the others.
2. **processing** (``demo.proc``), chained to the generation task (``parent_tid``): reads
   ``demo:demo.gen`` while it grows, two files per job (pandawms.examples.combine), outputs into
   ``demo:demo.proc``. One generated file makes its job hold 700 MB while the task asks for 300 MB: the
   pilot kills it at twice the request (memory_factor 2: pilot 1235), the retry rule for 1235 raises the
   file's ramCount and the file's next attempt succeeds.
3. **data** (``demo.data``, cli/demo_data.py): one job per file of ``demo:demo.inputs`` at REMOTE_DISK.

The processing and data tasks skip scouting: their jobs are all alike, and the processing task's memory
request must stay the one the demo's hog is sized against.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from pandawms.core.retry_rules import DEFAULT_RULES
from pandawms.core.specs import ErrorComponent
from pandawms.core.tasks import TASK_FINAL_STATES, TaskStatus
from pandawms.protocol.display import STATE_ORDER
from pandawms.protocol.errorcodes import describe
from pandawms.protocol.jobs import JobDescription, JobPage, JobRecord
from pandawms.protocol.task_records import TaskListPage, TaskRecord, TaskSummary

SCOPE = "demo"
USER = "demo"
GEN, PROC = "demo.gen", "demo.proc"
GEN_DS, PROC_DS = f"{SCOPE}:{GEN}", f"{SCOPE}:{PROC}"
DESTINATION = "LOCAL_DISK"
EVENTS_PER_JOB = 100  # of 1000 samples each: ~0.1 s of CPU
# The generator idles past the pilot's first memory sample (every 10 s), so the scouts measure a real
# footprint, and its jobs last long enough for their walltime to be measured in whole seconds.
GEN_SLEEP = 11
HOG_SERIAL = 5  # the generated file (by serial number) the processing job holds memory for
HOG_MB = 700
HOG_SECONDS = 15  # past the pilot's memory sample
MERGE_FILES = 3  # pre-merge pieces per merge job (on-site: pieces of one queue)
PROC_RAM_MB = 300  # the processing task's ramCount: the pilot kills at 2 x 300 MB
OK_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.FINISHED})
FINAL_TASK = frozenset(TASK_FINAL_STATES)


def _output(name: str, dataset: str) -> dict[str, Any]:
    return {
        "type": "template",
        "param_type": "output",
        "value": f"{name}.${{SN}}.json",
        "dataset": dataset,
        "destination": DESTINATION,
        "hidden": True,
    }


def generation_task(python: str, jobs: int, seed: int) -> dict[str, Any]:
    """``jobs`` jobs of EVENTS_PER_JOB events; ``${RNDMSEED}`` (the job's serial + ``seed``) seeds each."""
    args = f"--events ${{MAXEVENTS}} --seed ${{RNDMSEED}} --sleep {GEN_SLEEP} --output ${{OUTPUT0}}"
    return {
        "taskName": GEN,
        "userName": USER,
        "transPath": f"{shlex.quote(python)} -m pandawms.examples.mc_pi",
        "jobParameters": [{"type": "constant", "value": args, "offset": seed}, _output(GEN, GEN_DS)],
        "noInput": True,
        "nEvents": jobs * EVENTS_PER_JOB,
        "nEventsPerJob": EVENTS_PER_JOB,
        "ramCount": 300,
        "baseWalltime": 0,  # the scouts' whole wall time is work (scheduling.md §6 cpuTime formula)
        "maxAttempt": 3,
    }


def hog_lfn(jobs: int) -> str:
    """The generated file the processing job holds memory for (serial HOG_SERIAL, or the last)."""
    return f"{GEN}.{min(HOG_SERIAL, jobs):06d}.json"


def processing_task(python: str, parent: int, jobs: int, merge: bool = False) -> dict[str, Any]:
    """Two generated files per job, combined; the file ``hog_lfn`` needs 700 MB. With ``merge`` the
    jobs' outputs are pre-merge pieces, combined again by merge jobs (pmerge) MERGE_FILES at a time."""
    hog = f"--hog-on {hog_lfn(jobs)}:{HOG_MB} --hog-seconds {HOG_SECONDS}"
    trans = f"{shlex.quote(python)} -m pandawms.examples.combine"
    params: dict[str, Any] = {
        "taskName": PROC,
        "userName": USER,
        "transPath": trans,
        "jobParameters": [
            {"type": "constant", "value": f"{hog} --output ${{OUTPUT0}}"},
            {"type": "template", "param_type": "input", "value": "${IN}", "dataset": GEN_DS},
            _output(PROC, PROC_DS),
        ],
        "parent_tid": parent,
        "nFilesPerJob": 2,
        "ramCount": PROC_RAM_MB,
        "skipScout": True,
        "maxAttempt": 3,
    }
    if merge:
        params["mergeOutput"] = True
        params["mergeSpec"] = {"transPath": trans, "jobParameters": "--output ${OUTPUT0} ${IN}"}
        params["nFilesPerMergeJob"] = MERGE_FILES
    return params


def submit(client: httpx.Client, params: dict[str, Any]) -> int:
    resp = client.post("/task/submit", json=params)
    if resp.status_code != 200:
        raise RuntimeError(f"task/submit {params['taskName']}: {resp.status_code} {resp.text[:500]}")
    return int(resp.json()["data"]["jediTaskID"])


def task_list(client: httpx.Client) -> list[TaskSummary]:
    page = client.get("/task/list", params={"user": USER, "limit": 100}).json()["data"]
    return sorted(TaskListPage.model_validate(page).tasks, key=lambda t: t.task_id)


def task_records(client: httpx.Client, ids: Iterable[int]) -> list[TaskRecord]:
    out = []
    for task_id in ids:
        data = client.get("/task/get_details", params={"task_id": task_id}).json()["data"]
        out.append(TaskRecord.model_validate(data))
    return out


def all_jobs(client: httpx.Client) -> list[JobRecord]:
    out: list[JobRecord] = []
    cursor: int | None = None
    for _ in range(1000):  # pages of 5000: far more than the demo makes
        params: dict[str, Any] = {"limit": 5000, **({"before_id": cursor} if cursor else {})}
        page = JobPage.model_validate(client.get("/job/list", params=params).json()["data"])
        out.extend(page.jobs)
        cursor = page.next_before_id
        if cursor is None:
            break
    return out


def describe_job(client: httpx.Client, panda_id: int) -> JobDescription:
    data = client.get("/job/get_description", params={"job_id": panda_id}).json()["data"]
    return JobDescription.model_validate(data)


def tasks_over(tasks: Sequence[TaskSummary]) -> bool:
    return bool(tasks) and all(t.status in FINAL_TASK for t in tasks)


def tasks_ok(tasks: Sequence[TaskSummary]) -> bool:
    """Every task final and done or finished (what ``--once`` exits 0 on)."""
    return bool(tasks) and all(t.status in OK_STATUSES for t in tasks)


@dataclass(frozen=True)
class DemoTaskIds:
    gen: int
    proc: int
    data: int
    gen_jobs: int  # the generation task's jobs (nEvents / nEventsPerJob)

    @property
    def all(self) -> tuple[int, int, int]:
        return (self.gen, self.proc, self.data)


# --- the summary --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryRetry:
    """The processing task's memory kill and the retry that succeeded."""

    lfn: str
    failed: JobRecord
    retry: JobRecord | None
    rule: str


def memory_retry(
    client: httpx.Client, jobs: Sequence[JobRecord], task_id: int, lfn: str
) -> MemoryRetry | None:
    """The job of ``task_id`` killed for memory while reading ``lfn``, and the next attempt of that file."""
    mine = sorted((j for j in jobs if j.task_id == task_id), key=lambda j: j.panda_id)
    killed = [j for j in mine if any(e.component == "pilot" and e.code == 1235 for e in j.errors)]
    for job in killed:
        if lfn not in {f.lfn for f in describe_job(client, job.panda_id).job.files}:
            continue
        later = [j for j in mine if j.panda_id > job.panda_id]
        retry = next(
            (j for j in later if lfn in {f.lfn for f in describe_job(client, j.panda_id).job.files}), None
        )
        return MemoryRetry(lfn, job, retry, _rule_for(1235))
    return None


def _rule_for(code: int) -> str:
    rule = next(r for r in DEFAULT_RULES if r.component is ErrorComponent.PILOT and r.code == code)
    return f"{rule.name} -> {rule.action.value}"


def _master(r: TaskRecord) -> str:
    masters = [d for d in r.datasets if d.is_master_input]
    ds = masters[0] if masters else None
    what = "event ranges, no input" if ds is None or ds.type.value == "pseudo_input" else ds.dataset_name
    return f"{r.n_files_finished}/{r.n_files} finished, {r.n_files_failed} failed ({what})"


def tasks_lines(records: Sequence[TaskRecord]) -> list[str]:
    lines = ["", "Tasks (progress in input files; a failed file is retried until out of attempts):"]
    for r in records:
        parent = f", child of {r.parent_tid}" if r.parent_tid else ""
        lines.append(f"  {r.task_id:>3} {r.task_name:<10} {r.status.value:<9} {_master(r)}{parent}")
        for d in (d for d in r.datasets if d.type.value == "output"):
            lines.append(f"      -> {d.dataset_name}: {d.n_files_finished} file(s) at {d.destination or '-'}")
        if r.error_dialog:
            lines.append(f"      {r.error_dialog}")
    return lines


def final_attempts_line(records: Sequence[TaskRecord], jobs: Sequence[JobRecord]) -> str:
    """Files are what a task counts; jobs are attempts (a retried file makes a new job), so the failure
    rate of what was asked for is the one of the files' final attempts, not failed jobs / all jobs."""
    finished = sum(r.n_files_finished for r in records)
    failed = sum(r.n_files_failed for r in records)
    failed_jobs = sum(1 for j in jobs if j.job_status == "failed")
    ended = finished + failed
    rate = f"{100 * failed / ended:.1f} %" if ended else "-"
    return (
        f"Final attempts: {finished} input file(s) finished, {failed} failed: failure rate {rate}; "
        f"{len(jobs)} jobs ran them ({failed_jobs} failed attempt(s), {max(failed_jobs - failed, 0)} "
        "of them retried)"
    )


def jobs_lines(jobs: Sequence[JobRecord], records: Sequence[TaskRecord] = ()) -> list[str]:
    states = Counter(j.job_status for j in jobs)
    per_state = ", ".join(f"{s} {states[s]}" for s in STATE_ORDER if states[s])
    lines = [f"Jobs (attempts: a file's retry is a new job): {per_state}"]
    if records:
        lines.append(final_attempts_line(records, jobs))
    errors: Counter[tuple[str, int]] = Counter(
        (e.component, e.code) for j in jobs for e in j.errors if e.code
    )
    for (comp, code), n in errors.most_common():
        info = describe(comp, code)
        lines.append(f"  {comp}:{code:<5} {n:>3}  {info.acronym}: {info.description}"[:79])
    return lines


def scouts_lines(gen: TaskRecord, jobs: Sequence[JobRecord]) -> list[str]:
    mine = [j for j in jobs if j.task_id == gen.task_id]
    scouts = [j for j in mine if "sj" in j.special_handling.split(",")]
    if gen.scouts is None:
        return [f"Scouts: task {gen.task_id} ran {len(scouts)} scout job(s), not evaluated (yet)"]
    s = gen.scouts
    priority = max((j.current_priority for j in scouts), default=0)
    lines = [
        f"Scouts: task {gen.task_id}'s first {len(scouts)} jobs, at priority {priority}: "
        f"{s.reason.split(';')[0]}.",
        f"  They measured cpuTime {s.cpu_time:g} HS06·s/event, ramCount {s.ram_count} MB/core,",
        f"  outDiskCount {s.out_disk_count} B/event",
    ]
    rest = [j for j in mine if j not in scouts]
    if rest:
        wall = max(j.max_walltime for j in rest)
        ram = max(j.min_ram_count for j in rest)
        lines[-1] += f"; the other {len(rest)} jobs got maxWalltime {wall} s, {ram} MB."
    return lines


def retry_lines(retry: MemoryRetry | None, proc: TaskRecord | None) -> list[str]:
    if proc is None:
        return []
    if retry is None:
        return [f"Memory retry: no job of task {proc.task_id} was killed for memory (see its history)"]
    f = retry.failed
    lines = [
        f"Memory retry: {retry.lfn} (task {proc.task_id}) needs {HOG_MB} MB: job {f.panda_id}",
        f"  asked {f.min_ram_count} MB, killed by the pilot (1235);",
        f"  retry rule {retry.rule} raised the file's ramCount",
    ]
    if retry.retry is not None:
        r = retry.retry
        lines.append(
            f"  -> the file's attempt {r.attempt_nr}: job {r.panda_id}, {r.min_ram_count} MB, {r.job_status}"
        )
    return lines


def merge_lines(proc: TaskRecord | None, jobs: Sequence[JobRecord]) -> list[str]:
    if proc is None or not any(d.type.value == "trn_output" for d in proc.datasets):
        return []
    merges = [j for j in jobs if j.task_id == proc.task_id and j.processing_type == "pmerge"]
    states = Counter(j.job_status for j in merges)
    ended = ", ".join(f"{s} {n}" for s, n in states.items()) or "none"
    pieces = sum(d.n_files for d in proc.datasets if d.type.value == "trn_output")
    final = sum(d.n_files_finished for d in proc.datasets if d.type.value == "output")
    return [
        f"Merge: task {proc.task_id}'s jobs wrote {pieces} pre-merge pieces; {len(merges)} merge jobs",
        f"  (pmerge: {ended}) combined up to {MERGE_FILES} on the queue holding them",
        f"  into {final} file(s) of {PROC_DS}",
    ]


def links_lines(root: str, records: Sequence[TaskRecord]) -> list[str]:
    lines = ["", "Where to look next:", f"  {root}/tasks/       # the tasks, progress in files"]
    for r in records:
        lines.append(f"  {root}/task/{r.task_id}/      # {r.task_name}: datasets, scouts, history")
    first = records[0].task_id if records else 1
    lines += [
        f"  export PANDA_URL={root}",
        "  .venv/bin/panda tasks                 # the same in the terminal",
        f"  .venv/bin/panda task {first}                # one task: datasets, history, scouts",
        f"  .venv/bin/panda download {PROC_DS} --dest merged    # the merged outputs",
        "  .venv/bin/panda run --noInput --nEvents 10 --nEventsPerJob 5 \\    # your own task",
        f"      --exec 'python3 -c \"print(42)\"' --outDS {SCOPE}:my.first.task",
    ]
    return lines
