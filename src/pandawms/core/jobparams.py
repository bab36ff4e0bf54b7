"""JEDI's job-parameter renderer: a task's ``jobParameters`` template -> one job's command line (pure).

Items are rendered in order and joined by one space; hidden items and items that render empty are left
out. Placeholders (``${NAME}`` or ``${NAME/MOD}``):

- ``${IN}``, ``${IN/L}``: the job's input LFNs of the item's dataset (a constant item: the master's),
  comma-joined; ``${IN/T}``: the same as a Python list literal (``['a.root', 'b.root']``);
- ``${SN}``, ``${SN/P}``: the job's serial number plus the item's offset, six digits (``000042``);
- ``${OUTPUT0}``, ``${OUTPUT1}``, ...: the job's output LFNs in template order (the log is not one);
- ``${FIRSTEVENT}`` (1-based), ``${SKIPEVENTS}`` (events to skip in the file), ``${MAXEVENTS}``
  (events of the job, -1 = all): from the job's rows' event range;
- ``${RNDMSEED}``: the serial number plus the item's offset (distinct per job of a task);
- ``${JEDITASKID}``: the task's id.
An unknown placeholder is InvalidInput naming the item (``jobParameters[i]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pandawms.core.errors import InvalidInput

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:/([A-Z]+))?\}")
_OUTPUT = re.compile(r"OUTPUT(\d+)$")
SERIAL_DIGITS = 6


@dataclass(frozen=True, slots=True)
class TemplateItem:
    """One ``jobParameters`` entry as the renderer needs it (protocol.tasks.ParamItem, resolved)."""

    value: str
    param_type: str = ""  # "" (constant), input, pseudo_input, output, log, number
    dataset: str = ""  # the item's dataset as "scope:name"
    offset: int = 0
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class JobValues:
    """What one job brings to the template."""

    task_id: int
    serial: int
    master: str  # the master input dataset "scope:name" ("" for a task without input)
    inputs: Mapping[str, Sequence[str]]  # input dataset "scope:name" -> the job's LFNs of it
    outputs: Sequence[str] = ()  # output LFNs in template order
    first_event: int | None = None  # 0-based first event of the job's range
    n_events: int | None = None  # events of the job (None = unknown: all)


def serial_text(serial: int) -> str:
    return f"{serial:0{SERIAL_DIGITS}d}"


def output_lfn(template: str, serial: int, task_id: int, field: str = "template") -> str:
    """An output/log file name: ``${SN}``/``${SN/P}`` -> the serial, ``${JEDITASKID}`` -> the task id."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "SN":
            return serial_text(serial)
        if name == "JEDITASKID":
            return str(task_id)
        raise InvalidInput(f"{field}: ${{{name}}} cannot be used in a file name", field)

    return PLACEHOLDER.sub(sub, template)


def _list(lfns: Sequence[str], modifier: str | None, field: str) -> str:
    if modifier in (None, "L"):
        return ",".join(lfns)
    if modifier == "T":
        return repr(list(lfns))
    raise InvalidInput(f"{field}: unknown modifier /{modifier} of ${{IN}} (L or T)", field)


def _value(name: str, modifier: str | None, item: TemplateItem, job: JobValues, field: str) -> str:
    if name == "IN":
        ds = item.dataset if item.param_type in ("input", "pseudo_input") else job.master
        return _list(job.inputs.get(ds, ()), modifier, field)
    if name == "SN":
        return serial_text(job.serial + item.offset)
    if name == "RNDMSEED":
        return str(job.serial + item.offset)
    if name == "JEDITASKID":
        return str(job.task_id)
    if name == "FIRSTEVENT":
        return str((job.first_event or 0) + 1)
    if name == "SKIPEVENTS":
        return str(job.first_event or 0)
    if name == "MAXEVENTS":
        return str(job.n_events if job.n_events is not None else -1)
    m = _OUTPUT.match(name)
    if m is not None and int(m.group(1)) < len(job.outputs):
        return job.outputs[int(m.group(1))]
    raise InvalidInput(f"{field}: unknown placeholder ${{{name}}}", field)


def render_item(item: TemplateItem, job: JobValues, field: str, output: str | None = None) -> str:
    """One item's text; an output/log item renders to its file name ``output`` when given."""
    if item.param_type in ("output", "log") and output is not None:
        return output
    return PLACEHOLDER.sub(lambda m: _value(m.group(1), m.group(2), item, job, field), item.value)


def render(items: Sequence[TemplateItem], job: JobValues) -> str:
    """The job's command-line arguments (see the module docstring)."""
    parts: list[str] = []
    n_out = 0
    for i, item in enumerate(items):
        output = None
        if item.param_type == "output":
            output = job.outputs[n_out] if n_out < len(job.outputs) else None
            n_out += 1
        if item.hidden:
            continue
        text = render_item(item, job, f"jobParameters[{i}]", output)
        if text:
            parts.append(text)
    return " ".join(parts)


def check(items: Sequence[TemplateItem]) -> None:
    """Render once with sample values: InvalidInput names the first bad item (checked at submission)."""
    n_out = sum(item.param_type == "output" for item in items)
    inputs = {item.dataset: ("f.root",) for item in items if item.dataset}
    sample = JobValues(1, 1, "", inputs, tuple(f"out{i}" for i in range(n_out)), 0, 1)
    for i, item in enumerate(items):
        if item.param_type in ("output", "log"):
            output_lfn(item.value, 1, 1, f"jobParameters[{i}]")
    render(items, sample)
