"""Questions asked of the catalog: the entry for (component, code), every entry, a component by name.
The catalog is derived from the code enums; (component, code) has exactly one entry."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pandawms.core.specs import ErrorComponent
from pandawms.protocol.errorcodes.catalog import CatalogCode, ErrorCategory, ErrorInfo, PilotPhase
from pandawms.protocol.errorcodes.pilot_codes import PilotCode
from pandawms.protocol.errorcodes.server_codes import (
    BrokerageCode,
    DdmCode,
    JobDispatcherCode,
    SupCode,
    TaskBufferCode,
)

# The components that have catalogued codes; exe codes are experiment-defined and have none (errors.md §1).
COMPONENT_CODES: Mapping[ErrorComponent, type[CatalogCode]] = MappingProxyType(
    {
        ErrorComponent.PILOT: PilotCode,
        ErrorComponent.JOBDISPATCHER: JobDispatcherCode,
        ErrorComponent.BROKERAGE: BrokerageCode,
        ErrorComponent.DDM: DdmCode,
        ErrorComponent.TASKBUFFER: TaskBufferCode,
        ErrorComponent.SUP: SupCode,
    }
)


def entry(component: ErrorComponent, member: CatalogCode) -> ErrorInfo:
    """The catalog entry of one enum member."""
    phase = member.phase.value if isinstance(member, PilotCode) else component.value
    return ErrorInfo(component, int(member), member.name, member.description, member.category, phase)


_CATALOG: Mapping[tuple[ErrorComponent, int], ErrorInfo] = MappingProxyType(
    {(comp, int(member)): entry(comp, member) for comp, codes in COMPONENT_CODES.items() for member in codes}
)

# Monitor and column names (errors.md §1) that name a component differently.
_COMPONENT_ALIASES: Mapping[str, ErrorComponent] = MappingProxyType(
    {
        "executor": ErrorComponent.EXE,
        "transform": ErrorComponent.EXE,
        "dataservice": ErrorComponent.DDM,
        "supervisor": ErrorComponent.SUP,
    }
)


def parse_component(component: ErrorComponent | str) -> ErrorComponent:
    """The component for an enum member, its value or a monitor alias; ValueError names the valid ones."""
    if isinstance(component, ErrorComponent):
        return component
    name = component.strip().lower()
    if name in _COMPONENT_ALIASES:
        return _COMPONENT_ALIASES[name]
    try:
        return ErrorComponent(name)
    except ValueError:
        valid = ", ".join([*(c.value for c in ErrorComponent), *_COMPONENT_ALIASES])
        raise ValueError(f"unknown error component {component!r}; valid: {valid}") from None


def describe(component: ErrorComponent | str, code: int) -> ErrorInfo:
    """The catalog entry, or an Uncategorized "UNKNOWN" entry for a code the catalog lacks."""
    comp = parse_component(component)
    info = _CATALOG.get((comp, code))
    if info is not None:
        return info
    phase = PilotPhase.INTERNAL.value if comp is ErrorComponent.PILOT else comp.value
    desc = f"unknown {comp.value} error code {code}"
    return ErrorInfo(comp, code, "UNKNOWN", desc, ErrorCategory.UNCATEGORIZED, phase)


def catalog() -> list[ErrorInfo]:
    """Every entry, sorted by (component name, code)."""
    return sorted(_CATALOG.values(), key=lambda i: (i.component.value, i.code))
