"""File server answers: a stored log tarball (the download itself is the raw file)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LogStored(BaseModel):
    filename: str = Field(description="the stored file's name")
    size: int = Field(description="bytes stored")
