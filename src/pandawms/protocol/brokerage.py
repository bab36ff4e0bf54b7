"""Brokerage decisions as the API returns them (job/get_description)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QueueRejection(BaseModel):
    """Why one queue was not chosen; a temporary rejection lets the job wait in ``defined``."""

    reason: str
    permanent: bool = Field(description="true: this queue can never take the job as submitted")
