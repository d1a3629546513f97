"""TLS settings for one registry: the system's CAs, plus the registry's own CA
certificates (`*.crt`) and client certificate (`*.cert` with its `*.key`) from its
certs.d directories, as Docker and Podman read them; or no verification at all
(`--tls-verify=false`, an insecure registry)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from capsa.errors import InvalidArgument


@dataclass(frozen=True)
class TLSFiles:
    cas: tuple[Path, ...] = ()
    client_pairs: tuple[tuple[Path, Path], ...] = ()


def find_files(directories: tuple[Path, ...]) -> TLSFiles:
    cas: list[Path] = []
    pairs: list[tuple[Path, Path]] = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = directory / name
            if name.endswith(".crt"):
                cas.append(path)
            elif name.endswith(".cert"):
                key = directory / (name[: -len(".cert")] + ".key")
                if not key.exists():
                    raise InvalidArgument(
                        f"client certificate {path} has no key {key.name} beside it",
                        hint="put the key there or remove the certificate",
                    )
                pairs.append((path, key))
            elif name.endswith(".key"):
                cert = directory / (name[: -len(".key")] + ".cert")
                if not cert.exists():
                    raise InvalidArgument(
                        f"client key {path} has no certificate {cert.name} beside it",
                        hint="put the certificate there or remove the key",
                    )
    return TLSFiles(tuple(cas), tuple(pairs))


def make_context(files: TLSFiles, *, verify: bool) -> ssl.SSLContext:
    """A client context: system CAs and `files`; when not `verify`, any certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for ca in files.cas:
        try:
            context.load_verify_locations(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            raise InvalidArgument(f"cannot load CA certificate {ca}: {exc}") from None
    for cert, key in files.client_pairs:
        try:
            context.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise InvalidArgument(f"cannot load client certificate {cert}: {exc}") from None
    return context
