"""The settings of one registry server, fixed when it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capsa.errors import InvalidArgument

AUTH_MODES = ("basic", "token")


@dataclass(frozen=True)
class ServeOptions:
    storage: Path
    host: str = "127.0.0.1"
    port: int = 5000
    tls_cert: Path | None = None
    tls_key: Path | None = None
    htpasswd: Path | None = None
    auth: str | None = None  # None: no auth; "basic"; "token"
    realm: str | None = None
    service: str = "capsa-registry"
    read_only: bool = False
    namespace_per_user: bool = False
    upload_timeout: float = 3600.0  # an upload nobody writes to for this long is dropped
    max_uploads: int = 512  # sessions open at once before TOOMANYREQUESTS
    max_manifest_size: int = 4 << 20  # docker-registry's limit; the spec asks for >= 4 MB
    token_lifetime: int = 300
    gc_interval: float | None = None  # run garbage collection online every this many s
    gc_grace: float = 3600.0
    access_log: bool = False

    def check(self) -> None:
        """Refuse contradictory settings before anything starts."""
        if self.auth is not None and self.auth not in AUTH_MODES:
            raise InvalidArgument(f"unknown --auth {self.auth!r}", hint="basic or token")
        if self.auth is not None and self.htpasswd is None:
            raise InvalidArgument(f"--auth {self.auth} needs --htpasswd FILE")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidArgument("--tls-cert and --tls-key go together")
        for path in (self.tls_cert, self.tls_key, self.htpasswd):
            if path is not None and not path.is_file():
                raise InvalidArgument(f"{path} is not a file")
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"invalid port {self.port}")
        if self.upload_timeout <= 0 or self.max_uploads <= 0:
            raise InvalidArgument("--upload-timeout and --max-uploads must be positive")
