"""core.checksums: adler32 values in PanDA's form, chunked sums, size+adler32 comparison."""

from __future__ import annotations

import os
import zlib

import pytest

from pandawms.core.checksums import (
    EMPTY_ADLER32,
    Adler32,
    Adler32Sum,
    FileStat,
    adler32_of,
    adler32_of_chunks,
)
from pandawms.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("data", "hex_digits"),
    [(b"", "00000001"), (b"a", "00620062"), (b"Wikipedia", "11e60398")],
)
def test_known_values_in_panda_form(data: bytes, hex_digits: str) -> None:
    assert str(adler32_of(data)) == hex_digits
    assert adler32_of(data).panda == f"ad:{hex_digits}"


def _reference(data: bytes) -> int:
    """adler32 by its definition (RFC 1950 section 8.2)."""
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % 65521
        b = (b + a) % 65521
    return b << 16 | a


def test_agrees_with_the_definition_past_the_reduction_block() -> None:
    data = b"\xff" * 6000 + os.urandom(3000)  # zlib reduces every 5552 bytes
    assert adler32_of(data) == Adler32(_reference(data))


def test_chunked_sum_equals_the_whole() -> None:
    data = os.urandom(100_003)
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]

    assert adler32_of_chunks(chunks) == FileStat(len(data), Adler32(zlib.adler32(data)))
    assert adler32_of_chunks([]) == FileStat(0, EMPTY_ADLER32)


def test_running_sum_counts_bytes() -> None:
    running = Adler32Sum()
    running.update(b"Wiki")
    running.update(memoryview(b"pedia"))
    assert running.size == 9 and running.adler32 == Adler32.parse("11e60398")


@pytest.mark.parametrize(
    "text", ["11e60398", "ad:11e60398", "AD:11E60398", "adler32:11e60398", " 11e60398\n"]
)
def test_parse_accepts_panda_and_xrootd_forms(text: str) -> None:
    assert Adler32.parse(text) == Adler32(0x11E60398)


def test_parse_pads_short_values() -> None:
    assert str(Adler32.parse("ad:62")) == "00000062"


@pytest.mark.parametrize(
    "text", ["", "ad:", "md5:d41d8cd98f00b204e9800998ecf8427e", "123456789", "xyz", "0x11e6"]
)
def test_parse_rejects_other_text_naming_it(text: str) -> None:
    with pytest.raises(InvalidInput, match="not an adler32 checksum"):
        Adler32.parse(text)


def test_value_range_and_size_are_checked() -> None:
    with pytest.raises(InvalidInput, match="outside"):
        Adler32(2**32)
    with pytest.raises(InvalidInput, match="negative"):
        FileStat(-1, EMPTY_ADLER32)


def test_mismatch_says_what_differs_expected_second() -> None:
    want = FileStat(10, Adler32(0xDEAD))

    assert want.mismatch(FileStat(10, Adler32(0xDEAD))) is None
    assert want.mismatch(FileStat(10, Adler32(0xBEEF))) == "adler32 0000beef, expected 0000dead"
    assert (
        want.mismatch(FileStat(9, Adler32(0xBEEF)))
        == "size 9, expected 10, adler32 0000beef, expected 0000dead"
    )
