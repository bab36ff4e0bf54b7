"""Task-parameter JSON on the client: read a task file (JSON or YAML) and build a task the way
panda-client's prun does (``panda run``), checked with the server's own model before anything is sent.

prun's conventions kept: taskName = the output dataset's name; outputs ``<outDS>.${SN}.<name>`` (one
output: in outDS; several: each in ``<outDS>_<name>``); the log ``<outDS>.log.${SN}.log.tgz`` in
``<outDS>.log``; in ``--exec``, ``%IN`` becomes ``${IN}`` (the job's input LFNs, comma-joined) and
``%OUT`` the job's output LFNs (``${OUTPUT0},${OUTPUT1}...``). The command itself is the transPath (or
``/bin/sh -c`` when it needs a shell); the input and output items are hidden (no text of their own).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pandawms import __version__
from pandawms.cli.common import UsageError
from pandawms.cli.user import exec_job
from pandawms.core.errors import InvalidInput
from pandawms.protocol.suggest import did_you_mean
from pandawms.protocol.tasks import TaskParams, dataset_name_did, refine

DEFAULT_MERGE = "hadd -f %OUT %IN"
_IN = re.compile(r"%IN\b")
_OUT = re.compile(r"%OUT\b")


def read_task_file(path: Path) -> dict[str, Any]:
    """One task-parameter object from a JSON or YAML file (``-`` = stdin; YAML unless it ends .json)."""
    name = "stdin" if str(path) == "-" else str(path)
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        text = sys.stdin.read() if name == "stdin" else path.read_text()
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read task file {name}: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{name}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{name}: expected one object of task parameters (taskName, transPath, ...)")
    return data


def check_params(source: str, params: dict[str, Any]) -> TaskParams:
    """Validate and refine as the server will; UsageError naming the field."""
    try:
        parsed = TaskParams.model_validate(params)
        refine(parsed)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "task"
        hint = did_you_mean(TaskParams, err) if len(err["loc"]) == 1 else ""
        raise UsageError(f"{source}: {field}: {err['msg']}{hint}") from None
    except InvalidInput as exc:
        raise UsageError(f"{source}: {exc}") from None
    return parsed


@dataclass(frozen=True)
class RunOptions:
    """``panda run``'s options, named as prun's."""

    exec_: str
    out_ds: str
    user: str
    in_ds: str | None = None
    outputs: tuple[str, ...] = ()
    n_files_per_job: int | None = None
    n_gb_per_job: float | None = None
    n_events_per_job: int | None = None
    n_events: int | None = None
    max_attempt: int | None = None
    sites: tuple[str, ...] = ()
    excluded_sites: tuple[str, ...] = ()
    memory: int | None = None
    cores: int | None = None
    parent_task_id: int | None = None
    no_input: bool = False
    merge_output: bool = False
    merge_exec: str = DEFAULT_MERGE


def _command(command: str, n_outputs: int, option: str) -> tuple[str, str]:
    """transPath and the argument text, %IN/%OUT turned into JEDI's placeholders."""
    job = exec_job(command)
    outs = ",".join(f"${{OUTPUT{i}}}" for i in range(n_outputs))
    args = str(job["jobParameters"])
    if _OUT.search(args) and not n_outputs:
        raise UsageError(f"{option}: %OUT needs --outputs")
    args = _OUT.sub(lambda _m: outs, _IN.sub(lambda _m: "${IN}", args))
    return str(job["transformation"]), args


def _output_items(o: RunOptions, scope: str, name: str) -> list[dict[str, Any]]:
    items = []
    for out in o.outputs:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", out):
            raise UsageError(f"--outputs: {out!r} is not a file name")
        dataset = name if len(o.outputs) == 1 else f"{name}_{out}"
        items.append(
            {
                "type": "template",
                "param_type": "output",
                "value": f"{name}.${{SN}}.{out}",
                "dataset": f"{scope}:{dataset}",
                "hidden": True,
            }
        )
    return items


def _split(o: RunOptions) -> dict[str, Any]:
    values = {
        "nFilesPerJob": o.n_files_per_job,
        "nGBPerJob": o.n_gb_per_job,
        "nEventsPerJob": o.n_events_per_job,
        "nEvents": o.n_events,
        "maxAttempt": o.max_attempt,
        "ramCount": o.memory,
        "coreCount": o.cores,
        "parent_tid": o.parent_task_id,
        "includedSite": list(o.sites) or None,
        "excludedSite": list(o.excluded_sites) or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def build_run_task(o: RunOptions) -> dict[str, Any]:
    """The task-parameter JSON of a ``panda run`` (prun's shape, pandawms' template items)."""
    if o.no_input == (o.in_ds is not None):
        raise UsageError("give --inDS, or --noInput with --nEvents and --nEventsPerJob")
    try:
        out = dataset_name_did(o.out_ds.rstrip("/"), "--outDS")
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    trans_path, args = _command(o.exec_, len(o.outputs), "--exec")
    items: list[dict[str, Any]] = [{"type": "constant", "value": args}]
    if o.in_ds is not None:
        item = {"type": "template", "param_type": "input", "value": "${IN}", "dataset": o.in_ds}
        items.append({**item, "hidden": True})
    items += _output_items(o, out.scope, out.name)
    params: dict[str, Any] = {
        "taskName": out.name,
        "userName": o.user,
        "vo": "atlas",
        "prodSourceLabel": "user",
        "taskType": "anal",
        "processingType": f"pandawms-{__version__}-jedi-run",
        "transPath": trans_path,
        "jobParameters": items,
        "log": {"dataset": f"{out.scope}:{out.name}.log", "value": f"{out.name}.log.${{SN}}.log.tgz"},
        **_split(o),
    }
    if o.no_input:
        params["noInput"] = True
    if o.merge_output:
        merge_path, merge_args = _command(o.merge_exec, len(o.outputs), "--mergeScript")
        params["mergeOutput"] = True
        params["mergeSpec"] = {"transPath": merge_path, "jobParameters": merge_args}
    return params
