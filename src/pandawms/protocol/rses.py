"""RSE configuration model: the RSE file (``[[rse]]`` tables and a ``[distances]`` table in TOML, beside
the queue file) and the RSE API share it.

    [[rse]]
    name = "CERN-PROD_DATADISK"          # upper case, Rucio's RSE names
    site = "CERN-PROD"
    prefix = "root://eos.example//atlas"  # replica URL = prefix/scope/lfn
    kind = "disk"                         # disk / tape / object_store

    [distances]                           # site -> site -> distance; either direction counts
    CERN-PROD = { BNL = 1, NDGF = 3 }     # 0 same site, <= 1 nearby (read in place), more: transfer
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from pandawms.core.data import RSEKind, RSESpec
from pandawms.core.errors import InvalidInput
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX
from pandawms.protocol.tomlfiles import read_toml, table_specs

Distances = dict[str, dict[str, int]]


class RSEConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    site: str = Field(min_length=1, max_length=128)
    prefix: str = Field(min_length=1, max_length=512, description="URL prefix: file://, root://, s3://")
    kind: RSEKind = RSEKind.DISK
    total_bytes: int = Field(0, ge=0, le=BIGINT_MAX, description="0 = not reported", strict=True)
    used_bytes: int = Field(0, ge=0, le=BIGINT_MAX, strict=True)
    availability_read: StrictBool = True
    availability_write: StrictBool = True

    @model_validator(mode="after")
    def _valid(self) -> RSEConfig:
        try:
            self.to_spec()
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return self

    def to_spec(self) -> RSESpec:
        return RSESpec(**self.model_dump())

    @classmethod
    def from_spec(cls, spec: RSESpec) -> RSEConfig:
        return cls(**{f: getattr(spec, f) for f in cls.model_fields})


class RSEUpsertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rses: list[RSEConfig] = Field(min_length=1, max_length=1000)


class DistancesBody(BaseModel):
    """Site -> site -> distance (rse/distances answer, rse/set_distances request)."""

    model_config = ConfigDict(extra="forbid")
    distances: dict[str, dict[str, Annotated[int, Field(ge=0, le=INT_MAX, strict=True)]]]


@dataclass(frozen=True, slots=True)
class RSEFile:
    rses: list[RSESpec]
    distances: Distances


def parse_rse_file(path: Path) -> RSEFile:
    """Read ``[[rse]]`` and ``[distances]``; ValueError names the file, the RSE and the bad field."""
    data = read_toml(path, "RSE file")
    unknown = sorted(set(data) - {"rse", "distances"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; expected [[rse]] and [distances]")
    specs = table_specs(path, data, "rse", RSEConfig, RSEConfig.to_spec, "RSE")
    try:
        distances = DistancesBody.model_validate({"distances": data.get("distances", {})}).distances
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{path}: [distances] {'.'.join(map(str, err['loc'][1:]))}: {err['msg']}") from None
    return RSEFile(specs, distances)
