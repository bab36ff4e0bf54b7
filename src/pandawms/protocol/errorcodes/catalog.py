"""What a catalog entry is (errors.md §1, §6): the categories, the pilot phases, and `CatalogCode`, the
base of the per-component code enums whose members are the catalog rows themselves.

A member is written once, as ``NAME = code, [phase,] category, "description"``; its name is the acronym.
The rows are checked when the enum is built, so a malformed row fails at import with the code named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Self

from pandawms.core.specs import ErrorComponent


class ErrorCategory(IntEnum):
    """The monitor's error categories (`errorcategory=N`, errors.md §6)."""

    UNCATEGORIZED = 0
    FILE_STORAGE = 1
    RUNTIME = 2
    NETWORK = 3
    TERMINATION = 4
    SOFTWARE = 5
    INTERNAL = 6


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A category's name and its one sentence of advice to the user (shown by the CLI and the monitor;
    the monitor's colours are in pandawms.monitor.error_style)."""

    category: ErrorCategory
    name: str
    advice: str


_C = ErrorCategory

CATEGORIES: Mapping[ErrorCategory, CategoryInfo] = MappingProxyType(
    {
        info.category: info
        for info in (
            CategoryInfo(
                _C.UNCATEGORIZED,
                "Uncategorized",
                "not mapped yet — read the full error diag and the job's stdout to find the cause",
            ),
            CategoryInfo(
                _C.FILE_STORAGE,
                "File and Storage Issues",
                "input/output registration or local disk problem — check that inputs exist, "
                "or wait for the automatic retry",
            ),
            CategoryInfo(
                _C.RUNTIME,
                "Runtime Failures and Resource Violations",
                "the payload itself failed — check stdout/stderr for crashes or exceeded limits",
            ),
            CategoryInfo(
                _C.NETWORK,
                "Network and Communication Errors",
                "node ↔ storage/server connectivity dropped — usually transient, retries normally recover",
            ),
            CategoryInfo(
                _C.TERMINATION,
                "Job Termination and Kill Signals",
                "the batch system stopped the job — check walltime use or site preemption",
            ),
            CategoryInfo(
                _C.SOFTWARE,
                "Software and Environment Issues",
                "setup mismatch or missing software repository — verify release setup and environment",
            ),
            CategoryInfo(
                _C.INTERNAL,
                "Internal and Unknown Errors",
                "infrastructure or pilot failure — most likely transient, "
                "the system should recover by itself",
            ),
        )
    }
)


def category_info(category: ErrorCategory | int) -> CategoryInfo:
    """Name and advice of a category; ValueError for a number outside 0..6."""
    return CATEGORIES[ErrorCategory(category)]


class PilotPhase(StrEnum):
    """Where in the pilot's work a pilot code arises (errors.md §3's sections)."""

    SETUP = "setup"
    STAGEIN = "stagein"
    PAYLOAD = "payload"
    STAGEOUT = "stageout"
    LIMITS = "limits"
    KILLED = "killed"
    COMMUNICATION = "communication"
    EVENTSERVICE = "eventservice"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One catalog entry; `phase` is the pilot phase for pilot codes and the component name otherwise."""

    component: ErrorComponent
    code: int
    acronym: str
    description: str
    category: ErrorCategory
    phase: str


def _row_fields(cls: type[IntEnum], code: object, row: tuple[object, ...]) -> tuple[ErrorCategory, str]:
    """The (category, description) of a row, or TypeError naming the enum, the code and what is wrong."""
    if type(code) is not int:
        raise TypeError(f"{cls.__name__}: code {code!r} is not an int")
    if len(row) != 2:
        raise TypeError(f"{cls.__name__} {code}: expected category and description after the code: {row!r}")
    category, description = row
    if not isinstance(category, ErrorCategory):
        raise TypeError(f"{cls.__name__} {code}: category {category!r} is not an ErrorCategory")
    if not isinstance(description, str) or not description.strip():
        raise TypeError(f"{cls.__name__} {code}: description {description!r} is not a non-empty string")
    return category, description


class CatalogCode(IntEnum):
    """A component's error codes; each member carries its category and description, its name is the
    acronym, and it compares and serialises as its code. Subclasses are ``@unique``: one row per code."""

    category: ErrorCategory
    description: str

    def __new__(cls, code: int, *row: object) -> Self:
        return cls._member(code, row)

    @classmethod
    def _member(cls, code: int, row: tuple[object, ...]) -> Self:
        cat, desc = _row_fields(cls, code, row)
        member = int.__new__(cls, code)
        member._value_ = code
        member.category = cat
        member.description = desc
        return member
