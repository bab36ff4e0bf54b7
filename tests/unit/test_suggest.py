"""protocol/suggest.py: the known wire names close to an unknown field, at any depth of a model."""

from __future__ import annotations

from pandawms.protocol.jobs import JobSubmission
from pandawms.protocol.suggest import did_you_mean, model_at


def extra(*loc: str | int) -> dict[str, object]:
    return {"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted"}


def test_top_level_field_is_suggested_by_its_wire_name() -> None:
    assert did_you_mean(JobSubmission, extra("corecount")) == " - did you mean coreCount?"


def test_nested_list_of_models_is_walked() -> None:
    holder = model_at(JobSubmission, ("files", 0))
    assert holder is not None and "fsize" in holder.model_fields
    assert "fsize" in did_you_mean(JobSubmission, extra("files", 0, "fsze"))


def test_fastapi_body_prefix_is_skipped() -> None:
    assert did_you_mean(JobSubmission, extra("body", "corecount"), skip=1) == " - did you mean coreCount?"


def test_nothing_close_or_other_errors_give_no_hint() -> None:
    assert did_you_mean(JobSubmission, extra("zzzzqqq")) == ""
    assert did_you_mean(JobSubmission, {"type": "missing", "loc": ("transformation",)}) == ""
    assert did_you_mean(None, extra("corecount")) == ""
