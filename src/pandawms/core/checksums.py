"""adler32, PanDA's file checksum: values in PanDA's 8-hex-digit form, sums over chunks, and the
size+adler32 comparison every copy ends with. Pure: callers read the bytes, this module only adds them up.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from pandawms.core.errors import InvalidInput

_HEX = frozenset("0123456789abcdef")
_PREFIXES = ("ad:", "adler32:")


@dataclass(frozen=True, order=True)
class Adler32:
    """An adler32 value; ``str()`` is PanDA's form: 8 lowercase hex digits."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFFFFFF:
            raise InvalidInput(f"adler32 value {self.value} is outside 0..0xffffffff", "adler32")

    @classmethod
    def parse(cls, text: str) -> Adler32:
        """From ``aa0f2de1``, ``ad:aa0f2de1`` (PanDA's file records) or ``adler32:aa0f2de1`` (XRootD);
        up to 8 hex digits, case-insensitive. Anything else is InvalidInput naming the text."""
        digits = text.strip().lower()
        for prefix in _PREFIXES:
            if digits.startswith(prefix):
                digits = digits[len(prefix) :]
                break
        if not 1 <= len(digits) <= 8 or not set(digits) <= _HEX:
            raise InvalidInput(f"not an adler32 checksum: {text!r} (want 8 hex digits, e.g. 'ad:0a1b2c3d')")
        return cls(int(digits, 16))

    @property
    def panda(self) -> str:
        """The form PanDA's file records carry in ``checksum``: ``ad:<8 hex digits>``."""
        return f"ad:{self}"

    def __str__(self) -> str:
        return f"{self.value:08x}"


EMPTY_ADLER32 = Adler32(1)


class Adler32Sum:
    """A running adler32 and byte count, fed chunk by chunk (a copy loop's checksum)."""

    def __init__(self) -> None:
        self._value = 1
        self.size = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._value = zlib.adler32(chunk, self._value)
        self.size += len(chunk)

    @property
    def adler32(self) -> Adler32:
        return Adler32(self._value & 0xFFFFFFFF)

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size, self.adler32)


def adler32_of(data: bytes | bytearray | memoryview) -> Adler32:
    return Adler32(zlib.adler32(data) & 0xFFFFFFFF)


def adler32_of_chunks(chunks: Iterable[bytes | bytearray | memoryview]) -> FileStat:
    """Size and adler32 of the concatenated chunks."""
    running = Adler32Sum()
    for chunk in chunks:
        running.update(chunk)
    return running.stat


@dataclass(frozen=True)
class FileStat:
    """What a storage says about a file: its size in bytes and its adler32."""

    size: int
    adler32: Adler32

    def __post_init__(self) -> None:
        if self.size < 0:
            raise InvalidInput(f"file size {self.size} is negative", "size")

    def mismatch(self, actual: FileStat) -> str | None:
        """None when ``actual`` is this file, else what differs ("adler32 0000beef, expected 0000dead")."""
        problems = []
        if actual.size != self.size:
            problems.append(f"size {actual.size}, expected {self.size}")
        if actual.adler32 != self.adler32:
            problems.append(f"adler32 {actual.adler32}, expected {self.adler32}")
        return ", ".join(problems) or None

    def __str__(self) -> str:
        return f"{self.size} bytes, adler32 {self.adler32}"
