"""The ``public_url`` setting (``PANDA_PUBLIC_URL``): kept without its slash, refused at start with
the setting's name unless it is an absolute http(s) URL without query, fragment or user."""

from __future__ import annotations

import pytest

from pandawms.config import check_public_url, load_config


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("", ""),
        ("https://panda.example.org", "https://panda.example.org"),
        ("https://panda.example.org/", "https://panda.example.org"),
        ("http://lb.internal:8080/panda/", "http://lb.internal:8080/panda"),
    ],
)
def test_a_public_url_is_kept_without_its_slash(url: str, kept: str) -> None:
    assert check_public_url(url) == kept


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("panda.example.org", "absolute http"),
        ("/auth", "absolute http"),
        ("ftp://panda.example.org", "absolute http"),
        ("https://", "absolute http"),
        ("https://h/?next=1", "no query"),
        ("https://h/#top", "fragment"),
        ("https://h?", "no query"),
        ("https://user:pw@h", "user or password"),
        ("https://h:port", "not a URL"),
        ("https://h/a b", "spaces"),
    ],
)
def test_a_bad_public_url_is_refused_naming_the_setting(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        check_public_url(url)
    assert str(refused.value).startswith("public_url (PANDA_PUBLIC_URL): ")


def test_the_setting_comes_from_the_environment() -> None:
    assert load_config(env={"PANDA_PUBLIC_URL": "https://p.example/"}).public_url == "https://p.example"
    assert load_config(env={}).public_url == ""
    with pytest.raises(ValueError, match="public_url"):
        load_config(env={"PANDA_PUBLIC_URL": "https://p.example/?x"})
