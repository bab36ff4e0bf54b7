"""Client-certificate identities: the verified subject of a TLS client certificate -> a Caller (pure).

A server started with ``--ssl-ca-certs`` asks every client for a certificate and verifies any it gets
against that CA bundle (server/tls.py puts the verified subject in the request's ASGI ``tls``
extension). ``[server.auth] cert_roles = ["SUBJECT=ROLE", ...]`` maps a subject (RFC 4514, as
``openssl x509 -subject -nameopt RFC2253`` prints it) to roles, one entry per role; a pilot's entry names
its queue as ``pilot@QUEUE``. A subject with no entry gets ``cert_default_roles`` (none by default: such
a certificate is refused). A Bearer token, when a request carries one, wins over the certificate.
Ownership is keyed on the sub ``x509:<subject>`` (a digest of the subject when that is too long).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pandawms.core.auth import Caller, Identity, Role, parse_roles
from pandawms.core.errors import InvalidInput, Unauthenticated

ISSUER = "x509"
SUB_PREFIX = "x509:"
MAX_SUB = 128


@dataclass(frozen=True, slots=True)
class CertGrant:
    roles: frozenset[Role]
    queue: str = ""


@dataclass(frozen=True, slots=True)
class CertIdentities:
    """The parsed ``cert_roles`` and ``cert_default_roles``."""

    grants: Mapping[str, CertGrant] = field(default_factory=dict)
    default_roles: frozenset[Role] = frozenset()


def parse_cert_roles(entries: Iterable[str], default_roles: Iterable[str] = ()) -> CertIdentities:
    """``("CN=factory-01,O=Site A=factory", "CN=pilots,O=Site A=pilot@SITE_A")`` -> CertIdentities.

    InvalidInput names the bad entry: no ``=ROLE``, an unknown role, a queue on a role other than pilot,
    a pilot without a queue, or one subject given two different queues.
    """
    roles: dict[str, set[Role]] = {}
    queues: dict[str, str] = {}
    for entry in entries:
        subject, sep, grant = entry.rpartition("=")
        subject = subject.strip()
        if not sep or not subject or "=" not in subject:
            raise InvalidInput(f"auth.cert_roles: {entry!r} is not SUBJECT=ROLE (SUBJECT as CN=...,O=...)")
        role_name, _, queue = grant.strip().partition("@")
        (role,) = parse_roles([role_name.strip()], "auth.cert_roles")
        queue = queue.strip()
        if (role is Role.PILOT) != bool(queue):
            raise InvalidInput(
                f"auth.cert_roles: {entry!r}: a pilot names its queue (pilot@QUEUE), no other role does"
            )
        if queue and queues.setdefault(subject, queue) != queue:
            raise InvalidInput(f"auth.cert_roles: {subject!r} is given two queues")
        roles.setdefault(subject, set()).add(role)
    grants = {s: CertGrant(frozenset(r), queues.get(s, "")) for s, r in roles.items()}
    defaults = parse_roles(default_roles, "auth.cert_default_roles")
    if Role.PILOT in defaults:
        raise InvalidInput(
            "auth.cert_default_roles: a pilot role is granted per subject (pilot@QUEUE), not by default"
        )
    return CertIdentities(grants, defaults)


def cert_sub(subject: str) -> str:
    """The owner key of a certificate's subject."""
    sub = SUB_PREFIX + subject
    if len(sub) <= MAX_SUB:
        return sub
    return SUB_PREFIX + "sha256:" + hashlib.sha256(subject.encode()).hexdigest()


def cert_caller(ids: CertIdentities, subject: str, common_name: str, expires: datetime) -> Caller:
    """The caller of a verified certificate; Unauthenticated when its subject is granted no role."""
    grant = ids.grants.get(subject) or CertGrant(ids.default_roles)
    if not grant.roles:
        raise Unauthenticated(f"certificate: subject {subject!r} has no role here ([server.auth] cert_roles)")
    identity = Identity(sub=cert_sub(subject), name=common_name, roles=grant.roles, queue=grant.queue)
    return Caller(identity, jti="", expires=expires, issuer=ISSUER)
