"""PanDA's task-parameter JSON (protocol.md §8.1) and its refinement into a task (TaskRefiner).

The shape follows PanDA's clients: top-level scalars (taskName, userName, vo, prodSourceLabel,
taskPriority, transPath, coreCount, ramCount, walltime, the split rules ...), ``jobParameters`` (an ordered
list of ``constant`` text and ``template`` items bound to an input or output dataset or a number) and a
``log`` template with the ``${SN}`` serial-number placeholder. Invalid parameters are refused by pydantic
with the field named; ``refine`` adds the checks across fields (InvalidInput naming the field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pandawms.core.data import DID, parse_did
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import TaskDatasetType
from pandawms.core.taskspecs import NewTaskDataset, TaskSpec, join_split_codes
from pandawms.protocol.bounds import BIGINT_MAX

_PARAMS = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)
_NAME = r"^[A-Za-z0-9_.\-]{1,128}$"
_RSE = r"^[A-Za-z0-9_.\-]{0,64}$"
DEFAULT_TASK_PRIORITY = {ProdSourceLabel.MANAGED: 100}
USER_TASK_PRIORITY = 1000
# ${IN}, ${IN/T}, ${IN/L}, ${SN}, ${SN/P}, ${OUTPUT0}, ${FIRSTEVENT}, ... (JEDI's template placeholders)
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:/([A-Z]+))?\}")


def dataset_name_did(text: str, field: str) -> DID:
    """``scope:name``, or a bare name whose scope is Rucio's default: the first two fields of ``user.*``
    and ``group.*`` names, else the first field (``mc23.123.evgen`` -> ``mc23``)."""
    if ":" in text:
        return parse_did(text, field)
    parts = text.split(".")
    n = 2 if parts[0] in ("user", "group") and len(parts) > 2 else 1
    if len(parts) <= n:
        raise InvalidInput(f"{field}: cannot tell the scope of {text!r}: write it as scope:name", field)
    try:
        return DID(".".join(parts[:n]), text)
    except InvalidInput as e:
        raise InvalidInput(f"{field}: {e}", field) from e


class ParamItem(BaseModel):
    """One ``jobParameters`` entry: constant text, or a template bound to a dataset or a number."""

    model_config = _PARAMS
    type: Literal["constant", "template"]
    value: str = Field("", max_length=20_000)
    param_type: Literal["input", "pseudo_input", "output", "log", "number"] | None = None
    dataset: str | None = Field(None, max_length=300)
    container: str | None = Field(None, max_length=300)
    offset: int = Field(0, ge=0, le=1_000_000_000)
    token: str | None = Field(None, max_length=64)
    destination: str | None = Field(None, max_length=200)
    hidden: bool = False
    attributes: str = Field("", max_length=200)
    expand: bool = False
    include: str = Field("", max_length=1000)
    exclude: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _bound(self) -> ParamItem:
        if self.type == "template" and self.param_type is None:
            raise ValueError("a template item needs param_type (input, output, log or number)")
        if self.param_type in ("input", "pseudo_input", "output", "log") and not self.dataset:
            raise ValueError(f"a {self.param_type} item needs its dataset")
        if self.param_type in ("output", "log") and "${SN" not in self.value:
            raise ValueError("an output file name needs the ${SN} serial number placeholder")
        return self


class LogTemplate(BaseModel):
    """The ``log`` entry: the log tarball of each job, named from ``value`` with ``${SN}``."""

    model_config = _PARAMS
    type: Literal["template"] = "template"
    param_type: Literal["log"] = "log"
    dataset: str = Field(min_length=1, max_length=300)
    container: str | None = Field(None, max_length=300)
    value: str = Field(min_length=1, max_length=1000)
    token: str | None = Field(None, max_length=64)
    destination: str | None = Field(None, max_length=200)
    offset: int = Field(0, ge=0, le=1_000_000_000)

    @field_validator("value")
    @classmethod
    def _serial(cls, v: str) -> str:
        if "${SN" not in v:
            raise ValueError("the log file name needs the ${SN} serial number placeholder")
        return v


class MergeSpec(BaseModel):
    """``mergeSpec``: how merge jobs (pmerge) combine pre-merge outputs."""

    model_config = _PARAMS
    trans_path: str = Field(alias="transPath", min_length=1, max_length=512)
    job_parameters: str = Field("", alias="jobParameters", max_length=20_000)


class TaskParams(BaseModel):
    """A task-parameter JSON as ``task/submit`` takes it (PanDA's names)."""

    model_config = _PARAMS
    task_name: str = Field(alias="taskName", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.:+/\-]+$")
    user_name: str = Field(alias="userName", min_length=1, max_length=128)
    vo: str = Field("atlas", max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
    prod_source_label: ProdSourceLabel = Field(ProdSourceLabel.USER, alias="prodSourceLabel")
    task_type: str = Field("", alias="taskType", max_length=64)
    processing_type: str = Field("", alias="processingType", max_length=64, pattern=r"^[A-Za-z0-9_.\-]*$")
    working_group: str = Field("", alias="workingGroup", max_length=64)
    task_priority: int | None = Field(None, alias="taskPriority", ge=0, le=10_000)
    trans_path: str = Field(alias="transPath", min_length=1, max_length=512)
    trans_uses: str = Field("", alias="transUses", max_length=128)
    trans_home: str | None = Field(None, alias="transHome", max_length=128)
    architecture: str = Field("", max_length=128)
    job_parameters: list[ParamItem] = Field(alias="jobParameters", min_length=1, max_length=200)
    log: LogTemplate | None = None
    # resources (JEDI units: ramCount MB per core, walltime s per job, cpuTime HS06·s per event)
    core_count: int = Field(1, alias="coreCount", ge=1, le=4096)
    ram_count: int = Field(0, alias="ramCount", ge=0, le=1_000_000)
    ram_unit: Literal["MB", "MBPerCore", "MBPerCoreFixed"] = Field("MBPerCore", alias="ramUnit")
    base_ram_count: int = Field(0, alias="baseRamCount", ge=0, le=1_000_000)
    walltime: int = Field(0, ge=0, le=100 * 86400)
    cpu_time: float = Field(0.0, alias="cpuTime", ge=0, le=1e9)
    base_walltime: int = Field(600, alias="baseWalltime", ge=0, le=86400)
    cpu_efficiency: int = Field(90, alias="cpuEfficiency", ge=1, le=100)
    out_disk_count: int = Field(0, alias="outDiskCount", ge=0, le=10**12)
    work_disk_count: int = Field(0, alias="workDiskCount", ge=0, le=10**13)
    # split rules (scheduling.md §4)
    n_files_per_job: int | None = Field(None, alias="nFilesPerJob", ge=1, le=10_000)
    n_events_per_job: int | None = Field(None, alias="nEventsPerJob", ge=1, le=10**9)
    n_gb_per_job: float | None = Field(None, alias="nGBPerJob", gt=0, le=10_000)
    n_max_files_per_job: int | None = Field(None, alias="nMaxFilesPerJob", ge=1, le=10_000)
    max_walltime: float | None = Field(None, alias="maxWalltime", gt=0, le=24 * 100)
    max_events_per_job: int | None = Field(None, alias="maxEventsPerJob", ge=1, le=10**9)
    n_events_per_input_file: int | None = Field(None, alias="nEventsPerInputFile", ge=1, le=10**9)
    n_files: int | None = Field(None, alias="nFiles", ge=1, le=10_000_000)
    n_events: int | None = Field(None, alias="nEvents", ge=1, le=10**12)
    no_input: bool = Field(False, alias="noInput")
    # scouts and retries
    skip_scout: bool = Field(False, alias="skipScout")
    scout_success_rate: int | None = Field(None, alias="scoutSuccessRate", ge=0, le=100)
    min_cpu_efficiency: int | None = Field(None, alias="minCpuEfficiency", ge=0, le=100)
    max_attempt: int = Field(3, alias="maxAttempt", ge=1, le=50)
    max_failure: int | None = Field(None, alias="maxFailure", ge=1, le=50)
    disable_auto_retry: bool = Field(False, alias="disableAutoRetry")
    retry_ram_offset: int | None = Field(None, alias="retryRamOffset", ge=0, le=1_000_000)
    retry_ram_step: int | None = Field(None, alias="retryRamStep", ge=0, le=1_000_000)
    goal: int | None = Field(None, ge=1, le=1000)
    fail_goal_unreached: bool = Field(False, alias="failGoalUnreached")
    # merging and chaining
    merge_output: bool = Field(False, alias="mergeOutput")
    merge_spec: MergeSpec | None = Field(None, alias="mergeSpec")
    n_files_per_merge_job: int | None = Field(None, alias="nFilesPerMergeJob", ge=1, le=10_000)
    n_gb_per_merge_job: float | None = Field(None, alias="nGBPerMergeJob", gt=0, le=10_000)
    parent_tid: int | None = Field(None, alias="parent_tid", ge=1, le=BIGINT_MAX)
    no_wait_parent: bool = Field(False, alias="noWaitParent")
    run_until_closed: bool = Field(False, alias="runUntilClosed")
    # placement
    site: str | None = Field(None, max_length=128, pattern=_NAME)
    cloud: str | None = Field(None, max_length=64)
    included_site: list[str] = Field(default_factory=list, alias="includedSite", max_length=1000)
    excluded_site: list[str] = Field(default_factory=list, alias="excludedSite", max_length=1000)
    req_id: int | None = Field(None, alias="reqID", ge=1, le=BIGINT_MAX)

    @field_validator("included_site", "excluded_site", mode="before")
    @classmethod
    def _site_list(cls, v: object) -> object:
        return [s for s in v.split(",") if s] if isinstance(v, str) else v

    @field_validator("included_site", "excluded_site")
    @classmethod
    def _site_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.match(r"^[A-Za-z0-9_.\-*]{1,128}$", name):
                raise ValueError(f"bad queue name {name!r}")
        return v

    def items_of(self, *kinds: str) -> list[tuple[int, ParamItem]]:
        """The jobParameters items of these param types, with their index (the field path)."""
        return [(i, p) for i, p in enumerate(self.job_parameters) if p.param_type in kinds]


@dataclass(frozen=True, slots=True)
class RefinedTask:
    """What the TaskRefiner makes of the parameters: the task row, its datasets in order (inputs first,
    then outputs, then the log) and the priority it starts with."""

    spec: TaskSpec
    datasets: tuple[NewTaskDataset, ...]
    priority: int


def split_rule(p: TaskParams) -> str:
    """The split rules in PanDA's two-letter codes (scheduling.md §4), as the tasks row keeps them."""
    codes: dict[str, object | None] = {
        "NF": p.n_files_per_job,
        "NE": p.n_events_per_job,
        "NG": p.n_gb_per_job,
        "MF": p.n_max_files_per_job,
        "MW": p.max_walltime,
        "MX": p.max_events_per_job,
        "NI": p.n_events_per_input_file,
        "NS": p.n_files,
        "NV": p.n_events,
        "SS": p.scout_success_rate,
        "MC": p.min_cpu_efficiency,
        "MA": p.max_failure,
        "RX": p.retry_ram_offset,
        "RY": p.retry_ram_step,
        "ZF": p.n_files_per_merge_job,
        "ZG": p.n_gb_per_merge_job,
    }
    flags = {  # codes of our own where PanDA's are not documented: NO noInput, SK skipScout
        "NO": p.no_input,
        "SK": p.skip_scout,
        "DR": p.disable_auto_retry,
        "FG": p.fail_goal_unreached,
        "MO": p.merge_output,
        "NW": p.no_wait_parent,
        "RC": p.run_until_closed,
    }
    out = {k: _code_value(v) for k, v in codes.items() if v is not None}
    out |= {k: "1" for k, on in flags.items() if on}
    return join_split_codes(out)


def _code_value(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def refine(p: TaskParams, parent_mutable: bool = False) -> RefinedTask:
    """The task row and datasets, after the checks across fields (each naming its field)."""
    _check(p)
    inputs = p.items_of("input", "pseudo_input")
    outputs = p.items_of("output")
    datasets: list[NewTaskDataset] = []
    seen: dict[str, str] = {}
    if p.no_input:  # JEDI's pseudo input: one row per nEventsPerJob events, no catalog files
        datasets.append(NewTaskDataset(TaskDatasetType.PSEUDO_INPUT, "panda", f"pseudo.{p.task_name}"[:250]))
    for i, item in inputs:
        assert item.dataset is not None
        did = dataset_name_did(item.dataset, f"jobParameters[{i}].dataset")
        _unique(seen, str(did), f"jobParameters[{i}].dataset")
        kind = TaskDatasetType.PSEUDO_INPUT if item.param_type == "pseudo_input" else TaskDatasetType.INPUT
        # the first input is the master; the others are secondary inputs attached to it
        master = 0 if datasets else None
        datasets.append(
            NewTaskDataset(kind, did.scope, did.name, master_index=master, mutable=parent_mutable)
        )
    for i, item in outputs:
        assert item.dataset is not None
        did = dataset_name_did(item.dataset, f"jobParameters[{i}].dataset")
        _unique(seen, str(did), f"jobParameters[{i}].dataset")
        datasets.append(
            NewTaskDataset(
                TaskDatasetType.OUTPUT, did.scope, did.name, template=item.value, destination=_rse(item)
            )
        )
    if p.log is not None:
        did = dataset_name_did(p.log.dataset, "log.dataset")
        _unique(seen, str(did), "log.dataset")
        datasets.append(
            NewTaskDataset(
                TaskDatasetType.LOG, did.scope, did.name, template=p.log.value, destination=_rse(p.log)
            )
        )
    return RefinedTask(_spec(p), tuple(datasets), _priority(p))


def _check(p: TaskParams) -> None:
    """The checks across fields, each naming its field."""
    inputs = p.items_of("input", "pseudo_input")
    if not inputs and not p.no_input:
        raise InvalidInput(
            "jobParameters: no input dataset (add a template item with param_type input, or set noInput)",
            "jobParameters",
        )
    if p.no_input and inputs:
        raise InvalidInput("noInput: the task has an input dataset in jobParameters", "noInput")
    if len(inputs) > 1:  # the job generator reads the master only: a secondary would never be used
        i = inputs[1][0]
        raise InvalidInput(
            f"jobParameters[{i}]: secondary input datasets (a second input item) are not supported; "
            "put the files in the master dataset or a container",
            f"jobParameters[{i}]",
        )
    if p.no_input and (p.n_events is None or p.n_events_per_job is None):
        raise InvalidInput("noInput: a task without input needs nEvents and nEventsPerJob", "nEvents")
    if p.merge_output and p.merge_spec is None:
        raise InvalidInput("mergeSpec: mergeOutput needs a mergeSpec (transPath, jobParameters)", "mergeSpec")
    if p.n_files_per_job and p.n_max_files_per_job and p.n_files_per_job > p.n_max_files_per_job:
        raise InvalidInput("nFilesPerJob: larger than nMaxFilesPerJob", "nFilesPerJob")
    overlap = set(p.included_site) & set(p.excluded_site)
    if overlap:
        raise InvalidInput(
            f"includedSite: queue(s) both included and excluded: {sorted(overlap)}", "includedSite"
        )


def _unique(seen: dict[str, str], did: str, field: str) -> None:
    if did in seen:
        raise InvalidInput(f"{field}: dataset {did} is already used by {seen[did]}", field)
    seen[did] = field


def _rse(item: ParamItem | LogTemplate) -> str:
    """The RSE outputs go to: ``destination`` when it names one, else ``token`` (PanDA's space token),
    else "" (each job's queue's ddm_output)."""
    for value in (item.destination, item.token):
        if value and re.match(_RSE, value):
            return value
    return ""


def _priority(p: TaskParams) -> int:
    if p.task_priority is not None:
        return p.task_priority
    return DEFAULT_TASK_PRIORITY.get(p.prod_source_label, USER_TASK_PRIORITY)


def _spec(p: TaskParams) -> TaskSpec:
    ram = p.ram_count if p.ram_unit != "MB" else -(-p.ram_count // p.core_count)
    included = list(p.included_site)
    if p.site and p.site not in included:
        included.insert(0, p.site)
    return TaskSpec(
        task_name=p.task_name,
        user_name=p.user_name,
        transformation=p.trans_path,
        prod_source_label=p.prod_source_label,
        vo=p.vo,
        working_group=p.working_group,
        task_type=p.task_type,
        processing_type=p.processing_type,
        task_priority=_priority(p),
        core_count=p.core_count,
        ram_count=ram,
        base_ram_count=p.base_ram_count,
        walltime=p.walltime,
        cpu_time=p.cpu_time,
        base_walltime=p.base_walltime,
        cpu_efficiency=p.cpu_efficiency,
        out_disk_count=p.out_disk_count,
        work_disk_count=p.work_disk_count,
        split_rule=split_rule(p),
        max_attempt=1 if p.disable_auto_retry else p.max_attempt,
        goal=p.goal or 1000,
        parent_task_id=p.parent_tid,
        included_sites=tuple(included),
        excluded_sites=tuple(p.excluded_site),
    )
