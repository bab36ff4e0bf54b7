"""The person's browser in a device login, played with httpx: confirm the login on the verification
page (Approve / Deny, with its CSRF cookie and field), open the identity provider's login page it
redirected to, fill in its form, and hand back where the provider redirects."""

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


CONFIRM = re.compile(r"<form method='post' action='device'>")


def confirm_login(
    browser: httpx.Client, verification_uri: str, decision: str = "approve", **page_params: str
) -> httpx.Response:
    """Open the verification page (``verification_uri`` may carry ``?user_code=``), then press Approve
    or Deny on its confirmation form: the server's answer, redirects not followed (Approve with an
    identity provider: a 303 to its login). ``browser`` keeps the page's CSRF cookie."""
    page = browser.get(verification_uri, params=page_params or None, follow_redirects=False)
    assert page.status_code == 200 and CONFIRM.search(page.text), page.text
    form = {name: value for name, value in HIDDEN.findall(page.text)} | {"decision": decision}
    return browser.post(urljoin(str(page.url), "device"), data=form, follow_redirects=False)
