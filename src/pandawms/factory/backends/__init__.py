"""Batch backends by ``[queue.backend] type``. Each backend module holds its typed config (a frozen
dataclass with a ``type`` Literal and ``build()``), the BatchBackend it builds, and its native-state table.

To add one (Slurm, HTCondor, Kubernetes): a module beside local.py, its config class as one more member of
the BackendConfig union, and one entry in BACKEND_CONFIGS (ARCHITECTURE.md, "Add a batch backend").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeAlias

from pandawms.factory.backends.base import (
    FINAL_STATES,
    BatchBackend,
    BatchStatus,
    LimitsLifetime,
    SubmitError,
    WorkerSpec,
    WorkerState,
    submit_all,
)
from pandawms.factory.backends.local import LocalBackend, LocalBackendConfig
from pandawms.factory.backends.slurm import SlurmBackend, SlurmBackendConfig

# the typed [queue.backend] tables, discriminated by `type`
BackendConfig: TypeAlias = LocalBackendConfig | SlurmBackendConfig

BACKEND_CONFIGS: Mapping[str, type[BackendConfig]] = MappingProxyType(
    {
        "local": LocalBackendConfig,
        "slurm": SlurmBackendConfig,
    }
)


def make_backend(config: BackendConfig) -> BatchBackend:
    """A new backend instance built from its typed config (validated on load by factory/config.py)."""
    return config.build()


__all__ = [
    "BACKEND_CONFIGS",
    "FINAL_STATES",
    "BackendConfig",
    "BatchBackend",
    "BatchStatus",
    "LimitsLifetime",
    "LocalBackend",
    "LocalBackendConfig",
    "SlurmBackend",
    "SlurmBackendConfig",
    "SubmitError",
    "WorkerSpec",
    "WorkerState",
    "make_backend",
    "submit_all",
]
