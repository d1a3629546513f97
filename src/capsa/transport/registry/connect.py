"""From an image name to a connected RegistryClient: registries.conf (location rewrites,
mirrors, insecure and blocked registries), TLS settings and credentials, all decided here
so sources, destinations and commands connect the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from capsa.transport.registry import authfile, regconf, tls
from capsa.transport.registry.client import RegistryClient
from capsa.transport.registry.names import is_loopback
from capsa.transport.registry.paths import RegistryPaths
from capsa.transport.registry.session import RegistrySession

if TYPE_CHECKING:
    from capsa.transport.registry.authfile import Credentials
    from capsa.transport.registry.regconf import Endpoint, RegistriesConf

DEFAULT_JOBS = 3  # layers moved at once, as Docker's max-concurrent-downloads


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries. `tls_verify` None decides per registry: verified TLS,
    except registries.conf's insecure ones and loopback addresses (as Docker treats
    127.0.0.0/8), which get HTTPS without verification and then plain HTTP."""

    paths: RegistryPaths
    tls_verify: bool | None = None
    credentials: Credentials | None = None  # given on the command line (--creds)
    chunk_size: int | None = None  # chunked uploads of this size; None: one PUT per blob
    jobs: int = DEFAULT_JOBS
    conf: RegistriesConf | None = field(default=None, compare=False)

    @classmethod
    def from_environ(cls) -> RegistryOptions:
        return cls(RegistryPaths.from_environ())

    def registries(self) -> RegistriesConf:
        if self.conf is None:
            object.__setattr__(self, "conf", regconf.load(self.paths.registries_conf))
        assert self.conf is not None
        return self.conf

    def with_tls_verify(self, verify: bool | None) -> RegistryOptions:
        return replace(self, tls_verify=verify)


def session_for(
    host: str,
    options: RegistryOptions,
    *,
    insecure: bool = False,
    repository: str = "",
    credentials: Credentials | None = None,
    api: str | None = None,
) -> RegistrySession:
    """A session to `host` with the TLS and credentials `options` give it."""
    conf = options.registries()
    declared_insecure = insecure or conf.insecure(host)
    if options.tls_verify is None:
        relaxed = declared_insecure or is_loopback(host)
    else:
        relaxed = not options.tls_verify
    found = credentials or options.credentials
    if found is None:
        found = authfile.lookup(options.paths.auth_files, host, repository)
    return RegistrySession(
        host,
        credentials=found,
        verify=not relaxed,
        allow_http=relaxed,
        tls_files=tls.find_files(options.paths.certificate_dirs(host)),
        pool_size=max(options.jobs, 1) + 2,
        api=api,
    )


def endpoints(
    host: str, repository: str, options: RegistryOptions, *, by_digest: bool, pull: bool
) -> list[Endpoint]:
    return options.registries().endpoints(host, repository, by_digest=by_digest, pull=pull)


def clients(
    host: str, repository: str, options: RegistryOptions, *, by_digest: bool, pull: bool
) -> Iterator[RegistryClient]:
    """A client for each place to try, mirrors first (pulls only)."""
    for endpoint in endpoints(host, repository, options, by_digest=by_digest, pull=pull):
        session = session_for(
            endpoint.host, options, insecure=endpoint.insecure, repository=endpoint.repository
        )
        yield RegistryClient(session, endpoint.repository)
