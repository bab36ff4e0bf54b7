"""The JSON twins of the data pages (datasets, containers, RSEs) with their rules and transfers; camelCase
keys as the other pages' (monitor/models.py)."""

from __future__ import annotations

from pydantic import Field

from pandawms.monitor.models import RuleOut, SelectionOut, TransferOut, _Model
from pandawms.protocol.times import UtcDateTime


class TransferActivity(_Model):
    """Transfer requests into and out of an RSE, and the rate of what arrived recently."""

    incoming: dict[str, int] = Field(description="requests to this RSE: queued, active, done, failed")
    outgoing: dict[str, int] = Field(description="requests reading from this RSE, by state")
    recent_mb_per_s: float = Field(
        description="MB (10^6 bytes) per second of the copies into it that ended in the recent window"
    )


class RSEShare(_Model):
    rse: str
    files: int = Field(description="files of the dataset available at this RSE")
    complete: bool = Field(description="every file of the dataset is available here")
    url: str


class DatasetRow(_Model):
    did: str = Field(description="scope:name")
    scope: str
    name: str
    type: str = Field(description="dataset or container")
    state: str = Field(description="open, closed or frozen")
    children: int = Field(description="files of a dataset, datasets of a container")
    files: int
    bytes: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    url: str
    replicas: list[RSEShare] = Field(description="available replicas per RSE (datasets only)")


class DatasetsPage(_Model):
    selection: SelectionOut
    datasets: list[DatasetRow]
    next_url: str | None


class FileRow(_Model):
    scope: str
    lfn: str
    guid: str
    bytes: int
    adler32: str
    events: int | None


class ReplicaStateRow(_Model):
    """One RSE's replicas of a dataset: count and bytes per replica state."""

    rse: str
    url: str
    counts: dict[str, int] = Field(description="available, copying, unavailable, bad")
    bytes: dict[str, int]
    complete: bool


class DatasetJobOut(_Model):
    panda_id: int = Field(alias="PandaID")
    job_status: str = Field(alias="jobStatus")
    computing_site: str | None = Field(alias="computingSite")
    prod_user_name: str = Field(alias="prodUserName")
    modification_time: UtcDateTime = Field(alias="modificationTime")
    types: list[str] = Field(description="input, output, log: what the job did with the dataset")
    files: int
    url: str


class DatasetPage(_Model):
    selection: SelectionOut
    dataset: DatasetRow
    files: list[FileRow] = Field(description="a keyset page of a dataset's files")
    next_url: str | None
    replicas: list[ReplicaStateRow]
    jobs: list[DatasetJobOut] = Field(description="the newest jobs that read or wrote the dataset")
    jobs_total: int
    datasets: list[DatasetRow] = Field(description="a keyset page of a container's datasets")
    parents: list[str] = Field(description="containers holding this dataset")
    rules: list[RuleOut] = Field(default_factory=list, description="replication rules on it")


class RSERow(_Model):
    name: str
    site: str
    kind: str
    prefix: str
    total_bytes: int
    used_bytes: int
    availability_read: bool
    availability_write: bool
    replicas: dict[str, int] = Field(description="replica count per state")
    url: str
    transfers: TransferActivity | None = None


class RSEQueue(_Model):
    queue: str
    use: str = Field(description="input, output or input+output (ddm_input / ddm_output)")
    status: str
    url: str


class RSEsPage(_Model):
    selection: SelectionOut
    rses: list[RSERow]
    recent_seconds: int = Field(0, description="the window of the recent arrivals and rates")
    errors: list[TransferOut] = Field(default_factory=list, description="the latest transfer errors")


class RSEPage(_Model):
    selection: SelectionOut
    rse: RSERow
    queues: list[RSEQueue]
    recent_seconds: int = 0
    rules: list[RuleOut] = Field(default_factory=list, description="rules copying to this RSE")
    errors: list[TransferOut] = Field(default_factory=list, description="its latest transfer errors")
