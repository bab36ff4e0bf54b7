"""Which back end serves a URL: one per scheme (``file``, ``root``/``xroot``, ``s3``), built from typed
configuration that main() read once; nothing here looks at the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pandawms.core.errors import InvalidInput
from pandawms.ddm import local, s3, xrootd
from pandawms.ddm.base import StorageBackend


@dataclass(frozen=True)
class StorageConfig:
    """Storage access of one process: the S3 endpoint (if any) and the XRootD client settings."""

    s3: s3.S3Config | None = None
    xrootd: xrootd.XRootDConfig = field(default_factory=xrootd.XRootDConfig)


class BackendRegistry:
    """Back ends by URL scheme."""

    def __init__(self, backends: Mapping[str, StorageBackend]) -> None:
        self._backends = dict(backends)

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(sorted(self._backends))

    def for_url(self, url: str) -> StorageBackend:
        """The back end for ``url``'s scheme; InvalidInput naming the URL if none serves it."""
        scheme = urlsplit(url).scheme
        if not scheme:
            raise InvalidInput(f"storage URL {url!r} has no scheme (want file://, root:// or s3://)", "url")
        try:
            return self._backends[scheme]
        except KeyError:
            hint = "; no S3 endpoint is configured" if scheme == s3.SCHEME else ""
            raise InvalidInput(
                f"no storage back end for {scheme}:// in {url!r} (known: {', '.join(self.schemes)}){hint}",
                "url",
            ) from None


def build_registry(config: StorageConfig) -> BackendRegistry:
    """The registry for ``config``: file:// and root:// always, s3:// when an endpoint is configured."""
    root = xrootd.XRootDBackend(config.xrootd)
    backends: dict[str, StorageBackend] = {local.SCHEME: local.LocalBackend()}
    backends.update(dict.fromkeys(xrootd.SCHEMES, root))
    if config.s3 is not None:
        backends[s3.SCHEME] = s3.S3Backend(config.s3)
    return BackendRegistry(backends)
