"""The backend registry: every typed [queue.backend] config is registered under its `type`, builds its
backend from its own fields, and queues with equal configs share one backend instance."""

from __future__ import annotations

import types
from dataclasses import fields
from typing import Union, get_args, get_origin

from pandawms.factory import FactoryQueue, LocalBackendConfig
from pandawms.factory.backends import BACKEND_CONFIGS, BackendConfig, LocalBackend, make_backend
from pandawms.factory.run import build_backends


def _union_members() -> tuple[object, ...]:
    if get_origin(BackendConfig) in (Union, types.UnionType):
        return get_args(BackendConfig)
    return (BackendConfig,)


def test_every_union_member_is_registered_under_its_type() -> None:
    # the registry and the union name the same configs, each under the default of its `type` field
    assert set(BACKEND_CONFIGS.values()) == set(_union_members())
    for name, config_class in BACKEND_CONFIGS.items():
        (type_field,) = (f for f in fields(config_class) if f.name == "type")
        assert type_field.default == name


def test_make_backend_builds_from_the_typed_config() -> None:
    backend = make_backend(LocalBackendConfig(cancel_grace=7.5))
    assert isinstance(backend, LocalBackend)
    assert backend.cancel_grace == 7.5


def test_queues_with_equal_backend_configs_share_one_backend() -> None:
    # given two queues on the default local backend and one with its own cancel grace
    queues = [
        FactoryQueue("A"),
        FactoryQueue("B", backend=LocalBackendConfig()),
        FactoryQueue("C", backend=LocalBackendConfig(cancel_grace=1.0)),
    ]
    # when the factory builds its backends
    backends = build_backends(queues)
    # then A and B share one instance, C has its own with its grace
    assert set(backends) == {"A", "B", "C"}
    assert backends["A"] is backends["B"]
    assert backends["C"] is not backends["A"]
    assert (backends["A"].cancel_grace, backends["C"].cancel_grace) == (60.0, 1.0)
