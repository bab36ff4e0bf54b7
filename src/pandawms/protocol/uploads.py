"""Wire models of the calls behind ``panda upload`` / ``panda download`` (Rucio's field names): file
metadata by DID, and files registered with their replica at an RSE outside any dataset."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pandawms.protocol.data import MAX_FILES, FileIn


class AddFileReplicasRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rse: str = Field(min_length=1, max_length=64)
    files: list[FileIn] = Field(min_length=1, max_length=MAX_FILES)


class FileReplicasAdded(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rse: str
    added: int = Field(description="new files")
    existing: int = Field(description="files registered already with the same metadata (no-op)")
    replicas: int = Field(description="new replicas at the RSE")
