"""Batch backends by name. To add one (Slurm, HTCondor, Kubernetes): a module beside local.py with a class
implementing BatchBackend and its native-state table, plus one line in BACKENDS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from pandawms.factory.backends.base import (
    FINAL_STATES,
    BatchBackend,
    BatchStatus,
    SubmitError,
    WorkerSpec,
    WorkerState,
)
from pandawms.factory.backends.local import LocalBackend

BackendFactory = Callable[[float], BatchBackend]  # cancel_grace -> backend

BACKENDS: Mapping[str, BackendFactory] = MappingProxyType(
    {
        "local": lambda grace: LocalBackend(cancel_grace=grace),
    }
)
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)


def make_backend(name: str, *, cancel_grace: float) -> BatchBackend:
    """A new backend instance; KeyError for an unknown name (config validation rejects those first)."""
    return BACKENDS[name](cancel_grace)


__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "FINAL_STATES",
    "BatchBackend",
    "BatchStatus",
    "LocalBackend",
    "SubmitError",
    "WorkerSpec",
    "WorkerState",
    "make_backend",
]
