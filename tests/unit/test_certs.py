"""Client-certificate identities (core/certs.py): the cert_roles mapping and the caller it gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pandawms.config import load_config
from pandawms.core.auth import Role
from pandawms.core.certs import cert_caller, cert_sub, parse_cert_roles
from pandawms.core.errors import InvalidInput, Unauthenticated

EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)


def test_entries_grant_roles_per_subject_and_a_pilot_its_queue() -> None:
    ids = parse_cert_roles(
        ["CN=pilots,O=Site A=pilot@SITE_A", "CN=pilots,O=Site A=production", "CN=f1, O=Site A = factory"]
    )
    caller = cert_caller(ids, "CN=pilots,O=Site A", "pilots", EXPIRES)
    assert caller.roles == {Role.PILOT, Role.PRODUCTION}
    assert (caller.sub, caller.identity.queue, caller.display_name) == (
        "x509:CN=pilots,O=Site A",
        "SITE_A",
        "pilots",
    )
    assert cert_caller(ids, "CN=f1, O=Site A", "f1", EXPIRES).roles == {Role.FACTORY}


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("CN=x", "is not SUBJECT=ROLE"),
        ("factory", "is not SUBJECT=ROLE"),
        ("CN=x,O=y=wizard", "unknown role 'wizard'"),
        ("CN=x,O=y=pilot", "a pilot names its queue"),
        ("CN=x,O=y=user@Q", "a pilot names its queue"),
    ],
)
def test_a_bad_entry_is_named(entry: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        parse_cert_roles([entry])


def test_one_subject_cannot_have_two_queues_and_pilot_is_never_a_default() -> None:
    with pytest.raises(InvalidInput, match="two queues"):
        parse_cert_roles(["CN=p,O=s=pilot@A", "CN=p,O=s=pilot@B"])
    with pytest.raises(InvalidInput, match="cert_default_roles"):
        parse_cert_roles([], ["pilot"])


def test_an_unmapped_subject_gets_the_default_roles_or_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="CN=who,O=s"):
        cert_caller(parse_cert_roles([]), "CN=who,O=s", "who", EXPIRES)
    assert cert_caller(parse_cert_roles([], ["user"]), "CN=who,O=s", "who", EXPIRES).roles == {Role.USER}


def test_a_long_subject_gets_a_bounded_sub() -> None:
    long = "CN=" + "x" * 200 + ",O=s"
    assert len(cert_sub(long)) <= 128 and cert_sub(long) != cert_sub(long + "y")
    assert cert_sub("CN=a,O=b") == "x509:CN=a,O=b"


def test_bad_settings_refuse_to_load() -> None:
    with pytest.raises(ValueError, match="cert_roles"):
        load_config(None, overrides={"auth": {"cert_roles": ["CN=x,O=y=wizard"]}})
