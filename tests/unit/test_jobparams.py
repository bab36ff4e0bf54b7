"""The jobParameters renderer: placeholders, modifiers, offsets, hidden items and refusals, as tables."""

from __future__ import annotations

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.core.jobparams import JobValues, TemplateItem, check, output_lfn, render

MASTER = "user.alice:in"
SECOND = "user.alice:minbias"
JOB = JobValues(
    task_id=77,
    serial=42,
    master=MASTER,
    inputs={MASTER: ("a.root", "b.root"), SECOND: ("m.root",)},
    outputs=("out.000042.root", "hist.000042.root"),
    first_event=1000,
    n_events=500,
)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (TemplateItem("--run"), "--run"),
        (TemplateItem("-i ${IN}"), "-i a.root,b.root"),
        (TemplateItem("-i ${IN/L}"), "-i a.root,b.root"),
        (TemplateItem("--files=${IN/T}"), "--files=['a.root', 'b.root']"),
        (TemplateItem("--mb=${IN}", "input", SECOND), "--mb=m.root"),
        (TemplateItem("--in=${IN}", "input", MASTER), "--in=a.root,b.root"),
        (TemplateItem("--sn=${SN}"), "--sn=000042"),
        (TemplateItem("--sn=${SN/P}", "number", offset=8), "--sn=000050"),
        (TemplateItem("--seed=${RNDMSEED}", "number", offset=100), "--seed=142"),
        (
            TemplateItem("--first=${FIRSTEVENT} --skip=${SKIPEVENTS} -n ${MAXEVENTS}"),
            "--first=1001 --skip=1000 -n 500",
        ),
        (TemplateItem("-o ${OUTPUT0},${OUTPUT1}"), "-o out.000042.root,hist.000042.root"),
        (TemplateItem("--task ${JEDITASKID}"), "--task 77"),
        (TemplateItem("out.${SN}.root", "output", "user.alice:out"), "out.000042.root"),
        (TemplateItem("--secret", hidden=True), ""),
        (TemplateItem(""), ""),
    ],
)
def test_one_item(item: TemplateItem, expected: str) -> None:
    assert render([item], JOB) == expected


def test_items_join_with_one_space_and_outputs_take_their_names_in_order() -> None:
    items = [
        TemplateItem("python3 ana.py"),
        TemplateItem("-i ${IN}", "input", MASTER),
        TemplateItem("out.${SN}.root", "output", "user.alice:out"),
        TemplateItem("--hidden", hidden=True),
        TemplateItem("hist.${SN}.root", "output", "user.alice:hist"),
    ]
    assert render(items, JOB) == "python3 ana.py -i a.root,b.root out.000042.root hist.000042.root"


def test_unknown_events_mean_all_from_the_first() -> None:
    job = JobValues(1, 3, MASTER, {MASTER: ("a",)})
    assert render([TemplateItem("${FIRSTEVENT} ${SKIPEVENTS} ${MAXEVENTS}")], job) == "1 0 -1"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([TemplateItem("${NOPE}")], "jobParameters[0]: unknown placeholder ${NOPE}"),
        ([TemplateItem("x"), TemplateItem("${IN/Q}")], "jobParameters[1]: unknown modifier /Q"),
        ([TemplateItem("${OUTPUT0}")], "jobParameters[0]: unknown placeholder ${OUTPUT0}"),
        ([TemplateItem("o.${IN}.root", "output", "s:o")], "jobParameters[0]: ${IN} cannot be used in a file"),
    ],
)
def test_refusals_name_the_item(items: list[TemplateItem], message: str) -> None:
    with pytest.raises(
        InvalidInput, match=message.replace("$", r"\$").replace("{", r"\{").replace("[", r"\[")
    ):
        check(items)


@pytest.mark.parametrize(
    ("template", "serial", "expected"),
    [
        ("out.${SN}.root", 1, "out.000001.root"),
        ("user.alice.${JEDITASKID}._${SN/P}.log.tgz", 1234567, "user.alice.9._1234567.log.tgz"),
        ("plain.root", 5, "plain.root"),
    ],
)
def test_output_names(template: str, serial: int, expected: str) -> None:
    assert output_lfn(template, serial, 9) == expected
