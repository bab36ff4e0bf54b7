"""The largest integers the task buffer stores: a larger value is bad input (a 4xx), never a 500."""

from __future__ import annotations

INT_MAX = 2**31 - 1  # INTEGER columns (exit and error codes, cores, distances)
BIGINT_MAX = 2**63 - 1  # BIGINT columns (ids, bytes, events, memory, CPU time)
