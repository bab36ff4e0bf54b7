"""The v1 response envelope: ``{"success": bool, "message": str, "data": ...}`` on every answer."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    message: str = ""
    data: T | None = None
