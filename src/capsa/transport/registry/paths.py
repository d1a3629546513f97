"""Where registry settings live: registries.conf files, per-registry certificate
directories and credential files, found the way Docker and Podman users already keep them.
Everything is read from the environment once, into a frozen RegistryPaths passed down.

    registries.conf   /etc/containers/registries.conf (+ registries.conf.d/*.conf), then
                      capsa's own (<config>/registries.conf), later files overriding;
                      $CONTAINERS_REGISTRIES_CONF alone replaces them all (as in Podman)
    certs.d           <config>/certs.d, /etc/containers/certs.d, /etc/docker/certs.d
                      (each with <host[:port]>/ directories); --cert-dir replaces them
    credentials       $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json (or
                      ~/.docker/config.json), $XDG_RUNTIME_DIR/containers/auth.json,
                      $XDG_CONFIG_HOME/containers/auth.json; the first that names a
                      registry wins. `capsa login` writes the first of them
                      ($REGISTRY_AUTH_FILE, else Docker's config.json); --authfile
                      replaces the list.

<config> is $CAPSA_CONFIG_DIR, else /etc/capsa for root and $XDG_CONFIG_HOME/capsa
(~/.config/capsa) for other users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

SYSTEM_REGISTRIES_CONF = Path("/etc/containers/registries.conf")
SYSTEM_CERTS_DIRS = (Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))


@dataclass(frozen=True)
class RegistryPaths:
    registries_conf: tuple[Path, ...]
    certs_dirs: tuple[Path, ...]
    auth_files: tuple[Path, ...]
    auth_write: Path
    config_dir: Path
    # --cert-dir: one flat directory used for every registry instead of the trees
    cert_dir: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RegistryPaths:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or os.path.expanduser("~"))
        root = os.geteuid() == 0
        xdg_config = _absolute(env.get("XDG_CONFIG_HOME")) or home / ".config"
        config_dir = _absolute(env.get("CAPSA_CONFIG_DIR")) or (
            Path("/etc/capsa") if root else xdg_config / "capsa"
        )
        override = _absolute(env.get("CONTAINERS_REGISTRIES_CONF"))
        if override is not None:
            confs: tuple[Path, ...] = (override,)
        else:
            system = SYSTEM_REGISTRIES_CONF if root else xdg_config / "containers/registries.conf"
            confs = (
                system,
                *_drop_ins(system.with_name("registries.conf.d")),
                config_dir / "registries.conf",
            )
        docker_dir = _absolute(env.get("DOCKER_CONFIG")) or home / ".docker"
        docker_config = docker_dir / "config.json"
        auth: list[Path] = []
        explicit = _absolute(env.get("REGISTRY_AUTH_FILE"))
        if explicit is not None:
            auth.append(explicit)
        auth.append(docker_config)
        runtime = _absolute(env.get("XDG_RUNTIME_DIR"))
        if runtime is not None:
            auth.append(runtime / "containers/auth.json")
        auth.append(xdg_config / "containers/auth.json")
        return cls(
            registries_conf=confs,
            certs_dirs=(config_dir / "certs.d", *SYSTEM_CERTS_DIRS),
            auth_files=tuple(dict.fromkeys(auth)),
            auth_write=explicit or docker_config,
            config_dir=config_dir,
        )

    def with_authfile(self, path: str | None) -> RegistryPaths:
        """`--authfile PATH`: that file only, read and written."""
        if not path:
            return self
        chosen = Path(os.path.abspath(path))
        return replace(self, auth_files=(chosen,), auth_write=chosen)

    def with_cert_dir(self, path: str | None) -> RegistryPaths:
        """`--cert-dir DIR`: CA certificates (*.crt) and client keys read from DIR itself
        for every registry, as Podman does, instead of the certs.d trees."""
        if not path:
            return self
        return replace(self, cert_dir=Path(os.path.abspath(path)))

    def certificate_dirs(self, host: str) -> tuple[Path, ...]:
        """The directories whose *.crt, *.cert and *.key apply to `host` (host[:port])."""
        if self.cert_dir is not None:
            return (self.cert_dir,)
        return tuple(tree / host for tree in self.certs_dirs)


def _absolute(value: str | None) -> Path | None:
    return Path(value) if value and os.path.isabs(value) else None


def _drop_ins(directory: Path) -> tuple[Path, ...]:
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
    except OSError:
        return ()
    return tuple(directory / n for n in names)
