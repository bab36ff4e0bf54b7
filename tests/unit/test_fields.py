"""The job field table (core/fields.py) covers the aggregate, the schema and every wire model.

These fail when a new field is declared in one place but not in the others (recipe "add a job field").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Integer, String, Text

from pandawms.core.fields import (
    JOB_FIELDS,
    PILOT_FIELDS,
    RECORD_FIELDS,
    SUBMIT_FIELDS,
    Codec,
    JobField,
    Kind,
    dataclass_attributes,
    declared_attributes,
    error_code_column,
    error_diag_column,
    job_from_columns,
    spec_columns,
    spec_from_columns,
)
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import (
    ErrorComponent,
    FileSpec,
    FileType,
    Job,
    JobErrors,
    JobMetrics,
    JobSpec,
    ProdSourceLabel,
    ResourceRequest,
)
from pandawms.core.states import JobStatus
from pandawms.db.rows import file_to_row, row_to_file
from pandawms.db.schema import jobs
from pandawms.protocol.jobs import JobRecord, JobSubmission
from pandawms.protocol.pilot import PilotJob

SQL_TYPE = {
    Kind.INT: Integer,
    Kind.BIGINT: BigInteger,
    Kind.STR: String,
    Kind.TEXT: Text,
    Kind.DATETIME: DateTime,
}
ERROR_COLUMNS = {error_code_column(c) for c in ErrorComponent} | {
    error_diag_column(c) for c in ErrorComponent
}


def test_every_attribute_of_the_job_aggregate_is_declared() -> None:
    assert dataclass_attributes() - declared_attributes() == set(), "attributes with no JobField"
    assert declared_attributes() - dataclass_attributes() == set(), "JobFields naming no attribute"


def test_columns_are_unique_and_wire_names_too() -> None:
    columns = [f.column for f in JOB_FIELDS]
    wires = [f.wire for f in JOB_FIELDS]
    assert len(set(columns)) == len(columns)
    assert len(set(wires)) == len(wires)


def test_schema_has_exactly_the_declared_columns() -> None:
    in_schema = {c.name for c in jobs.columns} - {"panda_id"} - ERROR_COLUMNS
    assert in_schema == {f.column for f in JOB_FIELDS}
    for f in JOB_FIELDS:
        col = jobs.c[f.column]
        assert isinstance(col.type, SQL_TYPE[f.kind]), f.column
        assert col.nullable is f.nullable, f.column
        if f.kind is Kind.STR:
            assert isinstance(col.type, String) and col.type.length == f.length, f.column


def _aliases(model: type[BaseModel]) -> dict[str, str | None]:
    return {name: info.alias for name, info in model.model_fields.items()}


# PilotJob's comma-joined legacy lists, derived from its files (not job fields)
PILOT_FILE_LISTS = {
    *("guids", "fsizes", "checksums", "scope_in", "real_datasets_in", "ddm_endpoint_in"),
    *("scope_out", "scope_log", "real_datasets", "ddm_endpoint_out"),
}


@pytest.mark.parametrize(
    ("model", "declared", "wire_of", "extra"),
    [
        (JobSubmission, SUBMIT_FIELDS, lambda f: f.wire, {"files", "computing_site"}),
        (JobRecord, RECORD_FIELDS, lambda f: f.wire, {"panda_id", "errors", "files"}),
        (
            PilotJob,
            PILOT_FIELDS,
            lambda f: f.pilot,
            {"panda_id", "in_files", "out_files", "log_file", "files", *PILOT_FILE_LISTS},
        ),
    ],
    ids=["JobSubmission", "JobRecord", "PilotJob"],
)
def test_wire_models_carry_exactly_the_declared_fields(
    model: type[BaseModel],
    declared: tuple[JobField, ...],
    wire_of: Callable[[JobField], str | None],
    extra: set[str],
) -> None:
    aliases = _aliases(model)
    for f in declared:
        assert f.column in aliases, f"{model.__name__} lacks {f.column} ({f.wire})"
        assert aliases[f.column] in (wire_of(f), None), f.column
        if aliases[f.column] is None:
            assert f.column == wire_of(f)
    undeclared = set(aliases) - {f.column for f in declared} - extra
    assert undeclared == set(), f"{model.__name__} has fields missing from JOB_FIELDS"


names = st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=12)
specs = st.builds(
    JobSpec,
    transformation=names,
    job_name=names,
    job_parameters=st.text(max_size=30),
    prod_source_label=st.sampled_from(ProdSourceLabel),
    prod_user_name=names,
    current_priority=st.integers(-1000, 1000),
    computing_site=st.none() | names.map(QueueName),
    included_sites=st.lists(names, max_size=3).map(tuple),
    excluded_sites=st.lists(names, max_size=3).map(tuple),
    resources=st.builds(
        ResourceRequest,
        memory=st.integers(0, 10**6),
        cores=st.integers(1, 128),
        walltime=st.integers(0, 10**6),
        disk=st.integers(0, 10**6),
    ),
    max_attempt=st.integers(1, 50),
    task_id=st.none() | st.integers(1, 10**9),
    jobset_id=st.none() | st.integers(1, 10**9),
    destination_se=names,
)


@given(specs)
def test_spec_round_trips_through_its_columns(spec: JobSpec) -> None:
    cols = spec_columns(spec)
    cols["computing_site"] = spec.computing_site or "SOMEWHERE"  # the job's queue; pinned or brokered
    assert spec_from_columns(cols) == spec


@given(specs, st.sampled_from(JobStatus), st.integers(0, 10**6))
def test_job_round_trips_through_a_row(spec: JobSpec, status: JobStatus, rss: int) -> None:
    now = datetime(2026, 12, 1, 12, 0)
    files = (FileSpec(lfn="in.root", type=FileType.INPUT, scope="mc23", fsize=5),)
    job = Job(
        panda_id=PandaID(7),
        spec=dataclasses.replace(spec, files=files),
        status=status,
        attempt_nr=2,
        parent_id=PandaID(3),
        relation_type="retry",
        computing_site=spec.computing_site or QueueName("BROKERED"),
        command_to_pilot="",
        job_sub_status="",
        creation_time=now,
        modification_time=now,
        state_change_time=now,
        start_time=None,
        end_time=now,
        modification_host="wn1",
        pilot_id="p",
        batch_id="b",
        errors=JobErrors(codes={ErrorComponent.PILOT: 1305}, diags={ErrorComponent.PILOT: "exit 3"}),
        metrics=JobMetrics(max_rss=rss, job_metrics="a=1"),
        trans_exit_code=3,
        files=files,
    )
    row = {**spec_columns(job.spec), "panda_id": job.panda_id}
    for f in JOB_FIELDS:
        if f.column not in row:
            owner = job.metrics if f.owner.value == "metrics" else job
            row[f.column] = f.to_column(getattr(owner, f.attr))
    for c in ErrorComponent:
        row[error_code_column(c)] = job.errors.codes.get(c, 0)
        row[error_diag_column(c)] = job.errors.diags.get(c, "")
    assert job_from_columns(row, files) == job
    assert [row_to_file(file_to_row(7, f)) for f in files] == list(files)


def test_submission_fills_server_defaults_and_the_new_field() -> None:
    sub = JobSubmission.model_validate(
        {"transformation": "run.sh", "prodSourceLabel": "managed", "destinationSE": "CERN-PROD_DATADISK"}
    )
    spec = sub.to_spec(default_max_attempt=5)
    assert (spec.current_priority, spec.max_attempt, spec.destination_se) == (100, 5, "CERN-PROD_DATADISK")
    assert spec.computing_site is None


def test_csv_fields_are_the_site_lists() -> None:
    assert {f.column for f in JOB_FIELDS if f.codec is Codec.CSV} == {"included_sites", "excluded_sites"}
