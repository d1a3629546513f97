"""The security settings of one start, from --privileged, --cap-add/--cap-drop and
--security-opt: capabilities, seccomp filter, no_new_privs, masked paths, LSM labels.

Validated at create (a bad capability or profile fails `capsa create`, not a later
start) and resolved again at each start, since the kernel may differ after a reboot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capsa.engine.capabilities import resolve_capabilities
from capsa.engine.security_opts import (
    UNCONFINED,
    parse_security_opts,
    seccomp_for,
    system_paths,
)
from capsa.engine.spec import ContainerSpec
from capsa.errors import InvalidArgument


@dataclass
class SecurityContext:
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    seccomp: dict[str, Any] | None = None
    no_new_privileges: bool = False
    apparmor: str = ""
    selinux_label: str = ""
    masked_paths: tuple[str, ...] | None = None  # None: the defaults
    readonly_paths: tuple[str, ...] | None = None


def security_context(
    spec: ContainerSpec,
    default_masked: tuple[str, ...] = (),
    default_readonly: tuple[str, ...] = (),
) -> SecurityContext:
    """Resolve the container's security flags; InvalidArgument naming the bad flag."""
    security = spec.security
    options = parse_security_opts(security.security_opt)
    capabilities = resolve_capabilities(security.cap_add, security.cap_drop, security.privileged)
    seccomp = seccomp_for(options, capabilities["bounding"], security.privileged)
    masked, readonly = system_paths(options, default_masked, default_readonly, security.privileged)
    return SecurityContext(
        capabilities=capabilities,
        seccomp=seccomp,
        no_new_privileges=options.no_new_privileges,
        apparmor="" if options.apparmor == UNCONFINED else options.apparmor,
        selinux_label=_selinux_label(options.labels),
        masked_paths=tuple(masked),
        readonly_paths=tuple(readonly),
    )


def inline_seccomp_profile(security_opt: list[str]) -> list[str]:
    """The options with a seccomp profile path replaced by the profile's text, as Docker
    stores it at create: later edits to the file do not change the container."""
    result = []
    for opt in security_opt:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "seccomp" and sep and value not in ("", UNCONFINED, "builtin"):
            if not value.lstrip().startswith("{"):
                try:
                    with open(value, encoding="utf-8") as file:
                        value = file.read()
                except OSError as error:
                    raise InvalidArgument(
                        f"cannot read the seccomp profile {value}: {error.strerror}",
                        hint="give the path of a JSON seccomp profile, or seccomp=unconfined",
                    ) from None
            opt = f"seccomp={value}"
        result.append(opt)
    return result


def _selinux_label(labels: tuple[str, ...]) -> str:
    # SELinux is not enabled on the hosts capsa supports here; keep the user/role/type/
    # level parts in OCI's "user:role:type:level" order only when all were given.
    parts = dict(label.split(":", 1) for label in labels if ":" in label)
    if all(key in parts for key in ("user", "role", "type", "level")):
        return ":".join(parts[key] for key in ("user", "role", "type", "level"))
    return ""
