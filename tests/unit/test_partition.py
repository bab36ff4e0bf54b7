"""JobSplitter: split precedence, queue limits, boundaries, scouts, max_jobs and the size formulas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pandawms.core.errors import InvalidInput
from pandawms.core.partition import (
    GB,
    MIN_OUTPUT_SCRATCH,
    JobChunk,
    SizeModel,
    SplitFile,
    SplitRules,
    event_ranges,
    scratch,
    split,
    walltime,
)

MB = 1024**2


def rows(*sizes: int, events: int = 0, boundary: str = "") -> list[SplitFile]:
    return [SplitFile(row_id=i, fsize=s, n_events=events, boundary=boundary) for i, s in enumerate(sizes)]


def shape(chunks: list[JobChunk]) -> list[list[int]]:
    return [[f.row_id for f in c.files] for c in chunks]


# --- precedence and explicit sizes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "rules", "expected", "reasons"),
    [
        pytest.param(
            rows(1, 1, 1, 1, 1),
            SplitRules(n_files_per_job=2),
            [[0, 1], [2, 3], [4]],
            ["nFilesPerJob=2", "nFilesPerJob=2", "nFilesPerJob=2; end of input"],
            id="nFilesPerJob",
        ),
        pytest.param(
            rows(1, 1, 1, events=40),
            SplitRules(n_events_per_job=100, n_files_per_job=1),
            [[0, 1], [2]],
            ["nEventsPerJob=100", "nEventsPerJob=100; end of input"],
            id="nEventsPerJob-beats-nFilesPerJob",
        ),
        pytest.param(
            rows(GB, GB, GB),
            SplitRules(n_gb_per_job=2.5, n_files_per_job=3),
            [[0, 1, 2]],
            ["nFilesPerJob=3; end of input"],
            id="nFilesPerJob-beats-nGBPerJob",
        ),
        pytest.param(
            rows(GB, GB, GB),
            SplitRules(n_gb_per_job=2.5),
            [[0, 1], [2]],
            ["nGBPerJob=2.5", "nGBPerJob=2.5; end of input"],
            id="nGBPerJob",
        ),
        pytest.param(
            rows(GB, 4 * GB, GB),
            SplitRules(n_gb_per_job=2),
            [[0], [1], [2]],
            ["nGBPerJob=2", "file alone exceeds nGBPerJob=2", "nGBPerJob=2; end of input"],
            id="nGBPerJob-file-alone",
        ),
        pytest.param(
            rows(1, 1, 1),
            SplitRules(n_gb_per_job=10, n_max_files_per_job=2),
            [[0, 1], [2]],
            ["nMaxFilesPerJob=2", "nGBPerJob=10; end of input"],
            id="nMaxFilesPerJob-caps-nGBPerJob",
        ),
        pytest.param(
            rows(1, 1, 1),
            SplitRules(n_files_per_job=3, n_max_files_per_job=2),
            [[0, 1, 2]],
            ["nFilesPerJob=3; end of input"],
            id="nFilesPerJob-overrides-nMaxFilesPerJob",
        ),
        pytest.param(
            rows(1, 1, 1, events=30),
            SplitRules(n_gb_per_job=10, max_events_per_job=60),
            [[0, 1], [2]],
            ["maxEventsPerJob=60", "nGBPerJob=10; end of input"],
            id="maxEventsPerJob-caps",
        ),
        pytest.param(
            rows(1, 1, 1, 1),
            SplitRules(),
            [[0, 1, 2, 3]],
            ["queue limits; end of input"],
            id="no-limits-one-job",
        ),
    ],
)
def test_explicit_rules(
    files: list[SplitFile], rules: SplitRules, expected: list[list[int]], reasons: list[str]
) -> None:
    chunks = split(files, rules, SizeModel(), max_jobs=100)
    assert shape(chunks) == expected
    assert [c.reason for c in chunks] == reasons


def test_event_range_rows_count_their_range() -> None:
    # given a file cut into ranges of 100 by the feeder, followed by a small whole file of 30 events
    cuts = event_ranges(250, 100)
    ranged = [SplitFile(i, GB, start_event=s, end_event=e) for i, (s, e) in enumerate(cuts)]
    files = [*ranged, SplitFile(9, MB, n_events=30)]
    # when splitting by nEventsPerJob=100; then the 50-event tail and the 30-event file share a job
    chunks = split(files, SplitRules(n_events_per_job=100), SizeModel(), max_jobs=10)
    assert shape(chunks) == [[0], [1], [2, 9]]
    assert [c.n_events for c in chunks] == [100, 100, 80]


# --- queue limits without explicit sizes -----------------------------------------------------------------


SLOW = SizeModel(cpu_time_per_event=90.0, core_power=10.0, cpu_efficiency=0.9, base_walltime=600)


@pytest.mark.parametrize(
    ("files", "rules", "size", "expected", "reasons"),
    [
        pytest.param(
            rows(4 * GB, 4 * GB, 4 * GB),
            SplitRules(),
            SizeModel(queue_max_disk=10 * GB),
            [[0, 1], [2]],
            [f"scratch limit {10 * GB} bytes", "queue limits; end of input"],
            id="scratch",
        ),
        pytest.param(
            rows(4 * GB, 4 * GB, 4 * GB),
            SplitRules(),
            SizeModel(queue_max_disk=10 * GB, direct_access=True),
            [[0, 1, 2]],
            ["queue limits; end of input"],
            id="direct-access-input-free",
        ),
        pytest.param(
            rows(20 * GB, GB),
            SplitRules(),
            SizeModel(queue_max_disk=10 * GB),
            [[0], [1]],
            [f"file alone exceeds scratch limit {10 * GB} bytes", "queue limits; end of input"],
            id="scratch-file-alone",
        ),
        pytest.param(
            # 10 s per event + 600 s base per job: 2 files 2600 s, 3 files 3600 s
            rows(1, 1, 1, events=100),
            SplitRules(),
            SizeModel(cpu_time_per_event=90.0, queue_max_walltime=3000),
            [[0, 1], [2]],
            ["walltime limit 3000 s", "queue limits; end of input"],
            id="queue-walltime",
        ),
        pytest.param(
            rows(1, 1, 1, events=100),
            SplitRules(max_walltime_h=0.5),
            SizeModel(cpu_time_per_event=90.0, queue_max_walltime=86400),
            [[0], [1], [2]],
            ["walltime limit 1800 s", "walltime limit 1800 s", "queue limits; end of input"],
            id="task-maxWalltime-tighter",
        ),
        pytest.param(
            rows(1, 1, events=100),
            SplitRules(),
            SizeModel(queue_max_walltime=600),
            [[0, 1]],
            ["queue limits; end of input"],
            id="walltime-unknown-not-checked",
        ),
        pytest.param(
            rows(1, 1, 1, events=1000),
            SplitRules(),
            SizeModel(out_disk_per_event=4 * MB),
            [[0, 1], [2]],
            [f"output limit {10 * GB} bytes", "queue limits; end of input"],
            id="unmerged-output",
        ),
        pytest.param(
            rows(*[1] * 5),
            SplitRules(n_max_files_per_job=2),
            SizeModel(),
            [[0, 1], [2, 3], [4]],
            ["nMaxFilesPerJob=2", "nMaxFilesPerJob=2", "queue limits; end of input"],
            id="nMaxFilesPerJob",
        ),
    ],
)
def test_queue_limits(
    files: list[SplitFile],
    rules: SplitRules,
    size: SizeModel,
    expected: list[list[int]],
    reasons: list[str],
) -> None:
    chunks = split(files, rules, size, max_jobs=100)
    assert shape(chunks) == expected
    assert [c.reason for c in chunks] == reasons


# --- boundaries, scouts, max_jobs, chunk fields -----------------------------------------------------------


def test_boundaries_never_mix_and_order_is_kept() -> None:
    files = [*rows(1, 1, boundary="a"), *[SplitFile(i, 1, boundary="b") for i in (2, 3, 4)]]
    chunks = split(files, SplitRules(n_files_per_job=2), SizeModel(), max_jobs=10)
    assert shape(chunks) == [[0, 1], [2, 3], [4]]
    files = [SplitFile(0, 1, boundary="a"), SplitFile(1, 1, boundary="b"), SplitFile(2, 1, boundary="a")]
    chunks = split(files, SplitRules(), SizeModel(), max_jobs=10)
    assert shape(chunks) == [[0], [1], [2]]
    assert [c.reason for c in chunks][:2] == ["boundary change", "boundary change"]


def test_scouts_take_one_row_each_and_ignore_sizes() -> None:
    chunks = split(rows(1, 1, 1, 1), SplitRules(n_files_per_job=4), SizeModel(), max_jobs=3, scout=True)
    assert shape(chunks) == [[0], [1], [2]]
    assert {c.reason for c in chunks} == {"scout: 1 file per job"}


@pytest.mark.parametrize(("max_jobs", "expected"), [(0, []), (1, [[0, 1]]), (2, [[0, 1], [2, 3]])])
def test_max_jobs_leaves_the_rest(max_jobs: int, expected: list[list[int]]) -> None:
    chunks = split(rows(1, 1, 1, 1, 1), SplitRules(n_files_per_job=2), SizeModel(), max_jobs=max_jobs)
    assert shape(chunks) == expected


def test_chunk_fields() -> None:
    files = [SplitFile(0, GB, n_events=100, ram_count=2000), SplitFile(1, GB, n_events=50, ram_count=3000)]
    size = SizeModel(cpu_time_per_event=90.0, out_disk_per_event=MB, work_disk=GB)
    (chunk,) = split(files, SplitRules(), size, max_jobs=1)
    assert (chunk.n_events, chunk.ram_count) == (150, 3000)
    assert chunk.walltime == 1500 + 600
    assert chunk.disk == 2 * GB + MIN_OUTPUT_SCRATCH + GB


# --- formulas and validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_events", "size", "expected"),
    [
        pytest.param(100, SLOW, 1600, id="one-core"),
        pytest.param(100, SizeModel(cpu_time_per_event=90.0, cores=8), 125 + 600, id="eight-cores"),
        pytest.param(1, SizeModel(cpu_time_per_event=1.0), 1 + 600, id="rounds-up"),
        pytest.param(100, SizeModel(), 0, id="cpu-unknown"),
        pytest.param(0, SLOW, 0, id="events-unknown"),
    ],
)
def test_walltime(n_events: int, size: SizeModel, expected: int) -> None:
    assert walltime(n_events, size) == expected


@pytest.mark.parametrize(
    ("input_bytes", "n_events", "size", "expected"),
    [
        pytest.param(GB, 10, SizeModel(out_disk_per_event=MB), GB + MIN_OUTPUT_SCRATCH, id="min-output"),
        pytest.param(GB, 1000, SizeModel(out_disk_per_event=MB), GB + 1000 * MB, id="output-estimate"),
        pytest.param(
            GB, 0, SizeModel(work_disk=GB, direct_access=True), MIN_OUTPUT_SCRATCH + GB, id="direct"
        ),
    ],
)
def test_scratch(input_bytes: int, n_events: int, size: SizeModel, expected: int) -> None:
    assert scratch(input_bytes, n_events, size) == expected


@pytest.mark.parametrize(
    ("n_events", "per_job", "first", "expected"),
    [
        pytest.param(250, 100, 0, [(0, 99), (100, 199), (200, 249)], id="tail"),
        pytest.param(200, 100, 0, [(0, 99), (100, 199)], id="exact"),
        pytest.param(5, 100, 10, [(10, 14)], id="offset-short"),
        pytest.param(0, 100, 0, [], id="empty"),
    ],
)
def test_event_ranges(n_events: int, per_job: int, first: int, expected: list[tuple[int, int]]) -> None:
    assert event_ranges(n_events, per_job, first) == expected


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: SplitRules(n_files_per_job=0), "nFilesPerJob", id="nFilesPerJob"),
        pytest.param(lambda: SplitRules(n_gb_per_job=-1.0), "nGBPerJob", id="nGBPerJob"),
        pytest.param(lambda: SizeModel(cores=0), "cores", id="cores"),
        pytest.param(lambda: event_ranges(10, 0), "nEventsPerJob", id="event_ranges"),
        pytest.param(lambda: split([], SplitRules(), SizeModel(), max_jobs=-1), "max_jobs", id="max_jobs"),
    ],
)
def test_invalid_settings_name_the_field(build: object, field: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


def test_invalid_rows() -> None:
    with pytest.raises(InvalidInput, match="row 3"):
        SplitFile(3, -1)
    with pytest.raises(InvalidInput, match="go together"):
        SplitFile(3, 1, start_event=0)
    with pytest.raises(InvalidInput, match="end_event"):
        SplitFile(3, 1, start_event=5, end_event=4)


# --- properties -------------------------------------------------------------------------------------------

file_lists = st.lists(
    st.builds(
        SplitFile,
        row_id=st.just(0),
        fsize=st.integers(0, 8 * GB),
        n_events=st.integers(0, 5000),
        boundary=st.sampled_from(["", "x"]),
        ram_count=st.integers(0, 4000),
    ),
    max_size=30,
).map(lambda fs: [SplitFile(i, f.fsize, f.n_events, boundary=f.boundary) for i, f in enumerate(fs)])

rule_sets = st.builds(
    SplitRules,
    n_files_per_job=st.none() | st.integers(1, 5),
    n_events_per_job=st.none() | st.integers(1, 3000),
    n_gb_per_job=st.none() | st.floats(0.5, 10),
    n_max_files_per_job=st.integers(1, 10),
    max_walltime_h=st.none() | st.floats(0.5, 48),
    max_events_per_job=st.none() | st.integers(1, 4000),
)
size_models = st.builds(
    SizeModel,
    cpu_time_per_event=st.sampled_from([0.0, 1.0, 50.0]),
    cores=st.integers(1, 8),
    out_disk_per_event=st.sampled_from([0, 100_000, 4 * MB]),
    queue_max_walltime=st.sampled_from([0, 3600, 86400]),
    queue_max_disk=st.sampled_from([0, 5 * GB, 20 * GB]),
    direct_access=st.booleans(),
)


@given(files=file_lists, rules=rule_sets, size=size_models, scout=st.booleans())
def test_split_never_loses_or_duplicates_rows(
    files: list[SplitFile], rules: SplitRules, size: SizeModel, scout: bool
) -> None:
    chunks = split(files, rules, size, max_jobs=len(files) + 1, scout=scout)
    assert [f.row_id for c in chunks for f in c.files] == [f.row_id for f in files]
    assert all(len({f.boundary for f in c.files}) == 1 for c in chunks)


@given(files=file_lists, rules=rule_sets, size=size_models, max_jobs=st.integers(0, 5))
def test_split_is_a_prefix_within_max_jobs(
    files: list[SplitFile], rules: SplitRules, size: SizeModel, max_jobs: int
) -> None:
    chunks = split(files, rules, size, max_jobs=max_jobs)
    taken = [f.row_id for c in chunks for f in c.files]
    assert len(chunks) <= max_jobs
    assert taken == [f.row_id for f in files[: len(taken)]]


@given(files=file_lists, rules=rule_sets, size=size_models)
def test_every_chunk_within_limits_unless_alone(
    files: list[SplitFile], rules: SplitRules, size: SizeModel
) -> None:
    for chunk in split(files, rules, size, max_jobs=len(files) + 1):
        if chunk.reason.startswith("file alone exceeds"):
            assert len(chunk.files) == 1
            continue
        explicit_files = rules.n_events_per_job is None and rules.n_files_per_job is not None
        cap = rules.n_files_per_job if explicit_files else None
        assert len(chunk.files) <= (cap or rules.n_max_files_per_job)
        if rules.max_events_per_job is not None:
            assert chunk.n_events <= rules.max_events_per_job
        if rules.n_events_per_job is not None:
            assert chunk.n_events <= rules.n_events_per_job
        elif rules.n_files_per_job is None and rules.n_gb_per_job is not None:
            assert sum(f.fsize for f in chunk.files) <= rules.n_gb_per_job * GB
        elif rules.n_files_per_job is None and size.queue_max_disk:
            assert chunk.disk <= size.queue_max_disk
