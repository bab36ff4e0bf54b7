"""The error-code catalog shared by server, pilot, CLI and monitor (reference errors.md §1-§6).

Everything here is data: one code enum per component whose members are the catalog rows
(pilot_codes.py, server_codes.py; the shape of a row in catalog.py), the questions asked of the catalog
(lookup.py), the kill codes (kill.py) and the pilot's shell exit-code contract (exitcodes.py). Codes are
never renumbered; a (component, code) pair has exactly one entry. The monitor's colours are in
pandawms.monitor.error_style.
"""

from pandawms.protocol.errorcodes.catalog import (
    CATEGORIES,
    CatalogCode,
    CategoryInfo,
    ErrorCategory,
    ErrorInfo,
    PilotPhase,
    category_info,
)
from pandawms.protocol.errorcodes.exitcodes import (
    EXIT_FOR_PILOT_CODE,
    PILOT_CODE_FOR_EXIT,
    ExitStatus,
    PilotExit,
    WrapperExit,
    exit_code_for_pilot,
    exit_meaning,
    pilot_code_for_exit,
)
from pandawms.protocol.errorcodes.kill import KILL_CODES, KILL_FORCE_CODES, KillCode, kill_final_state
from pandawms.protocol.errorcodes.lookup import COMPONENT_CODES, catalog, describe, parse_component
from pandawms.protocol.errorcodes.pilot_codes import (
    PILOT_ES_CORRUPTED_INPUT_CODES,
    PILOT_ES_TEMPORARY_INPUT_CODES,
    PILOT_RECOVERABLE_CODES,
    PilotCode,
)
from pandawms.protocol.errorcodes.server_codes import (
    BrokerageCode,
    DdmCode,
    JobDispatcherCode,
    SupCode,
    TaskBufferCode,
)

__all__ = [
    "CATEGORIES",
    "COMPONENT_CODES",
    "EXIT_FOR_PILOT_CODE",
    "KILL_CODES",
    "KILL_FORCE_CODES",
    "PILOT_CODE_FOR_EXIT",
    "PILOT_ES_CORRUPTED_INPUT_CODES",
    "PILOT_ES_TEMPORARY_INPUT_CODES",
    "PILOT_RECOVERABLE_CODES",
    "BrokerageCode",
    "CatalogCode",
    "CategoryInfo",
    "DdmCode",
    "ErrorCategory",
    "ErrorInfo",
    "ExitStatus",
    "JobDispatcherCode",
    "KillCode",
    "PilotCode",
    "PilotExit",
    "PilotPhase",
    "SupCode",
    "TaskBufferCode",
    "WrapperExit",
    "catalog",
    "category_info",
    "describe",
    "exit_code_for_pilot",
    "exit_meaning",
    "kill_final_state",
    "parse_component",
    "pilot_code_for_exit",
]
