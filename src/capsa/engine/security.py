"""The security settings of one start, from --privileged, --cap-add/--cap-drop and
--security-opt: capabilities, seccomp filter, no_new_privs, LSM labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capsa.engine.spec import ContainerSpec

# Docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


@dataclass
class SecurityContext:
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    seccomp: dict[str, Any] | None = None
    no_new_privileges: bool = False
    apparmor: str = ""
    selinux_label: str = ""
    masked_paths: tuple[str, ...] | None = None  # None: the defaults
    readonly_paths: tuple[str, ...] | None = None


def security_context(spec: ContainerSpec) -> SecurityContext:
    caps = list(DEFAULT_CAPABILITIES)
    return SecurityContext(
        capabilities={"bounding": caps, "effective": list(caps), "permitted": list(caps)}
    )
