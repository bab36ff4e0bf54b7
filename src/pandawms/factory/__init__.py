"""Pilot factory: provisions pilots for PanDA queues through batch backends (reference factory.md).

``run_factory(load_factory_config(path, server_url=...))`` is all the CLI needs.
"""

from pandawms.factory.config import FactoryConfig, FactoryQueue, PilotOptions, load_factory_config
from pandawms.factory.run import run_factory

__all__ = ["FactoryConfig", "FactoryQueue", "PilotOptions", "load_factory_config", "run_factory"]
