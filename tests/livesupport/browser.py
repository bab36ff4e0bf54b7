"""The person's browser in a device login, played with httpx: open the identity provider's login page
the verification page redirected to, fill in its form, and hand back where the provider redirects."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

HIDDEN = re.compile(r"<input type='hidden' name='([^']*)' value='([^']*)'>")
ACTION = re.compile(r"<form method='post' action='([^']*)'>")


def log_in_at_provider(
    login_page: str, username: str, password: str, action: str = "login"
) -> httpx.Response:
    """GET the provider's login page, POST its form; the provider's answer (a redirect when it logs in)."""
    page = httpx.get(login_page, timeout=10)
    page.raise_for_status()
    form = {name: value for name, value in HIDDEN.findall(page.text)}
    form |= {"username": username, "password": password, "action": action}
    match = ACTION.search(page.text)
    assert match is not None, page.text
    return httpx.post(urljoin(login_page, match.group(1)), data=form, timeout=10)
