"""Job file rows -> catalog DIDs: the scope comes from the row, else from a ``scope:name`` dataset."""

from __future__ import annotations

import pytest

from pandawms.core.data import DID, dataset_did, job_file_did
from pandawms.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("scope", "lfn", "dataset", "want"),
    [
        ("user.a", "f.root", "", DID("user.a", "f.root")),
        ("", "f.root", "mc23:ds1", DID("mc23", "f.root")),
        ("user.a", "f.root", "mc23:ds1", DID("user.a", "f.root")),
        ("", "f.root", "ds1", None),
        ("", "f.root", "", None),
    ],
)
def test_job_file_did(scope: str, lfn: str, dataset: str, want: DID | None) -> None:
    assert job_file_did(scope, lfn, dataset) == want


def test_dataset_did() -> None:
    assert dataset_did("mc23:ds1") == DID("mc23", "ds1")
    assert dataset_did("ds1", "user.a") == DID("user.a", "ds1")
    assert dataset_did("ds1") is None
    assert dataset_did("") is None
    with pytest.raises(InvalidInput, match="scope"):
        job_file_did("bad scope!", "f")
