"""The storage configuration file of a process that moves data (``panda pilot --storage-config FILE``):

    [s3]                      # optional: without it s3:// URLs have no back end
    endpoint_url = "http://127.0.0.1:9000"
    access_key = "..."
    secret_key = "..."
    # region, connect_timeout, read_timeout, max_attempts as in ddm/s3.S3Config
    [xrootd]                  # optional: XrdCl's settings, ddm/xrootd.XRootDConfig
    request_timeout = 300

Read once by main() into a typed StorageConfig; every error names the file, the table and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

from pandawms.core.errors import InvalidInput
from pandawms.ddm.registry import StorageConfig
from pandawms.ddm.s3 import S3Config
from pandawms.ddm.xrootd import XRootDConfig

C = TypeVar("C", S3Config, XRootDConfig)
_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float)}


def load_storage_config(path: Path) -> StorageConfig:
    """The StorageConfig of ``path``; InvalidInput naming the file (and table and field) when wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read storage config {path}: {exc}", "storage_config") from exc
    return storage_config(data, str(path))


def storage_config(data: Mapping[str, Any], where: str) -> StorageConfig:
    """The StorageConfig of the parsed TOML ``data`` (``where`` names its origin in errors)."""
    unknown = sorted(set(data) - {"s3", "xrootd"})
    if unknown:
        raise InvalidInput(f"{where}: unknown table [{unknown[0]}] (known: [s3], [xrootd])", unknown[0])
    s3 = _typed(S3Config, data["s3"], f"{where}: [s3]") if "s3" in data else None
    xrootd = _typed(XRootDConfig, data.get("xrootd", {}), f"{where}: [xrootd]")
    return StorageConfig(s3=s3, xrootd=xrootd)


def _typed(cls: type[C], table: object, where: str) -> C:
    if not isinstance(table, dict):
        raise InvalidInput(f"{where} must be a table, got {table!r}", "storage_config")
    known = {f.name: f for f in fields(cls)}
    for key, value in table.items():
        f = known.get(key)
        if f is None:
            raise InvalidInput(f"{where} {key}: unknown field (known: {', '.join(known)})", key)
        allowed = _TYPES[str(f.type)]
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise InvalidInput(f"{where} {key}: must be {f.type}, got {value!r}", key)
        if (low := f.metadata.get("min")) is not None and value < low:
            raise InvalidInput(f"{where} {key}: must be at least {low}, got {value!r}", key)
    missing = [n for n, f in known.items() if f.default is MISSING and n not in table]
    if missing:
        raise InvalidInput(f"{where} {missing[0]}: missing (required: {', '.join(missing)})", missing[0])
    try:
        return cls(**table)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}", exc.field) from None
