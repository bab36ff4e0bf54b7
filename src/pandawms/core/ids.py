"""Typed identifiers. A PandaID is the job's integer id; a retry always gets a new one."""

from typing import NewType

PandaID = NewType("PandaID", int)
QueueName = NewType("QueueName", str)
