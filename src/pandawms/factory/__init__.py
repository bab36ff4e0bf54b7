"""Pilot factory: provisions pilots for PanDA queues through batch backends (reference factory.md).

``run_factory(load_factory_config(path, server_url=...))`` is all the CLI needs.
"""

from pandawms.factory.backends import BackendConfig, LocalBackendConfig
from pandawms.factory.config import FactoryConfig, FactoryQueue, load_factory_config
from pandawms.factory.run import run_factory
from pandawms.protocol.pilot_options import PilotOptions

__all__ = [
    "BackendConfig",
    "FactoryConfig",
    "FactoryQueue",
    "LocalBackendConfig",
    "PilotOptions",
    "load_factory_config",
    "run_factory",
]
