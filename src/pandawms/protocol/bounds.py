"""The numbers a client may send, bounded to what the task buffer stores: a larger value, a non-positive id
or a boolean where an integer belongs is bad input (a 4xx naming the field), never a 500.

Body integers are ``strict`` (but the task-parameter JSON of protocol/tasks.py, which PanDA clients write
with numbers as text at times): JSON ``true``/``false`` are not integers (lax mode would read them as 1 and 0)
and neither are strings. Query parameters arrive as text, so ``QueryId`` converts. Every bound is in the
OpenAPI spec, so clients and the fuzzer see the limits the server enforces (tests/unit/test_input_bounds.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

INT_MAX = 2**31 - 1  # INTEGER columns (exit and error codes, cores, distances)
BIGINT_MAX = 2**63 - 1  # BIGINT columns (ids, bytes, events, memory, CPU time)
MAX_HOURS = 10 * 366 * 24  # the longest time window a listing accepts (ten years)
# ids repeated in one query string: 1,000 of 19 digits keep the URL under the HTTP server's ~64 kB limit
MAX_QUERY_IDS = 1000

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX, strict=True)]  # an id in a request body
QueryId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]  # an id in a query string
REAL_MAX = 1e18  # below 2**63 with room for float rounding
Real = Annotated[float, Field(ge=-REAL_MAX, le=REAL_MAX, allow_inf_nan=False)]


def request_id_field(description: str, min_length: int = 1) -> Any:
    """An optional client-chosen id that makes a call safe to repeat (add_workers, acquire_jobs)."""
    return Field(
        None, min_length=min_length, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$", description=description
    )
