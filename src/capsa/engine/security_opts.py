"""`--security-opt`: parse the values Docker and Podman accept, and turn the parsed
options into the masked and read-only paths and the seccomp filter of a container.

    options = parse_security_opts(["no-new-privileges", "seccomp=/etc/p.json"])
    seccomp = seccomp_for(options, capabilities["bounding"], privileged=False)
    masked, readonly = system_paths(options, DEFAULT_MASKED, DEFAULT_READONLY, False)

Accepted (KEY=VALUE; Docker's deprecated KEY:VALUE too):
    no-new-privileges[=true|false]   seccomp=PATH|unconfined|builtin
    apparmor=PROFILE|unconfined      label=disable|nested|user:U|role:R|type:T|level:L|filetype:T
    mask=/p1:/p2                     unmask=ALL|/p1:/p2 (shell patterns as Podman: /proc/*)
    systempaths=unconfined           proc-opts=OPT1,OPT2    writable-cgroups=true|false
"""

from __future__ import annotations

from capsa._record import Record
from capsa.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from typing import Any

UNCONFINED = "unconfined"
BUILTIN = "builtin"  # Docker's name for the default seccomp profile

# Go's strconv.ParseBool, which Docker uses for these values.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_LABEL_KEYS = ("user", "role", "type", "level", "filetype")


class SecurityOptions(Record):
    """What `--security-opt` asked for; the defaults are what no option means."""

    __slots__ = (
        "apparmor",
        "labels",
        "mask",
        "no_new_privileges",
        "proc_opts",
        "seccomp",
        "systempaths_unconfined",
        "unmask",
        "writable_cgroups",
    )

    def __init__(
        self,
        *,
        no_new_privileges: bool = False,
        seccomp: str = "",
        apparmor: str = "",
        labels: tuple[str, ...] = (),
        mask: tuple[str, ...] = (),
        unmask: tuple[str, ...] = (),
        systempaths_unconfined: bool = False,
        proc_opts: tuple[str, ...] = (),
        writable_cgroups: bool | None = None,
    ) -> None:
        self.no_new_privileges = no_new_privileges
        # "" for the default profile, "unconfined" for none, else a path to a profile (or,
        # as the Docker API carries it, the profile's JSON text itself).
        self.seccomp = seccomp
        self.apparmor = apparmor  # "" for the default, "unconfined", or a profile name
        self.labels = labels  # SELinux label options: "disable", "type:container_t"...
        self.mask = mask  # more paths to mask
        self.unmask = unmask  # default masked/read-only paths to leave alone; "ALL" for all
        self.systempaths_unconfined = systempaths_unconfined  # Docker's unmask=ALL
        self.proc_opts = proc_opts  # options for the /proc mount (Podman)
        self.writable_cgroups = writable_cgroups  # None: the default (read-only)


def parse_security_opts(values: Iterable[str]) -> SecurityOptions:
    """Parse every `--security-opt` value; InvalidArgument naming the bad one and why."""
    fields: dict[str, Any] = {}
    labels: list[str] = []
    mask: list[str] = []
    unmask: list[str] = []
    proc_opts: list[str] = []
    for opt in values:
        key, value = _split(opt)
        if key == "no-new-privileges":
            fields["no_new_privileges"] = True if value is None else _bool(opt, value)
        elif value is None or value == "":
            raise _bad(opt, f"{key} needs a value", _hint_for(key))
        elif key == "seccomp":
            fields["seccomp"] = "" if value == BUILTIN else value
        elif key == "apparmor":
            fields["apparmor"] = value
        elif key == "label":
            labels.append(_label(opt, value))
        elif key == "mask":
            mask.extend(_paths(opt, value, allow_patterns=False))
        elif key == "unmask":
            unmask.extend(["ALL"] if value == "ALL" else _paths(opt, value, allow_patterns=True))
        elif key == "systempaths":
            if value != UNCONFINED:
                raise _bad(opt, f"systempaths takes only {UNCONFINED}", None)
            fields["systempaths_unconfined"] = True
        elif key == "proc-opts":
            proc_opts.extend(part for part in value.split(",") if part)
        elif key == "writable-cgroups":
            fields["writable_cgroups"] = _bool(opt, value)
        else:
            raise _bad(
                opt,
                f"unknown option {key!r}",
                "use no-new-privileges, seccomp=, apparmor=, label=, mask=, unmask=, "
                "systempaths=, proc-opts= or writable-cgroups=",
            )
    return SecurityOptions(
        labels=tuple(labels),
        mask=tuple(dict.fromkeys(mask)),
        unmask=tuple(dict.fromkeys(unmask)),
        proc_opts=tuple(proc_opts),
        **fields,
    )


def seccomp_for(
    options: SecurityOptions,
    capabilities: Collection[str],
    privileged: bool,
    arch: str | None = None,
) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` object for a container, or None for no filter.

    Docker's rules: seccomp=unconfined and --privileged mean no filter (even with a
    profile given); a profile given is loaded and resolved; otherwise capsa's default.
    `capabilities` is the container's bounding set.
    """
    if options.seccomp == UNCONFINED or privileged:
        return None
    if not options.seccomp:
        from capsa.engine.seccomp_profile import default_profile

        return default_profile(capabilities, arch)
    if options.seccomp.lstrip().startswith("{"):
        from capsa.engine.seccomp_file import resolve_profile
        from capsa.fastjson import JSONError, loads

        try:
            document = loads(options.seccomp)
        except JSONError as error:
            raise InvalidArgument(f"the seccomp profile given is not valid JSON: {error}") from None
        return resolve_profile(document, capabilities, arch)
    from capsa.engine.seccomp_file import load_profile_file

    return load_profile_file(options.seccomp, capabilities, arch)


def system_paths(
    options: SecurityOptions,
    masked: Iterable[str],
    readonly: Iterable[str],
    privileged: bool,
) -> tuple[list[str], list[str]]:
    """`linux.maskedPaths` and `linux.readonlyPaths` from the defaults given and the options.

    --privileged and systempaths=unconfined (or unmask=ALL) leave every default path alone,
    unmask=PATTERN the defaults it matches; mask=PATH adds paths to mask in every case,
    since it was asked for by name.
    """
    from fnmatch import fnmatchcase

    if privileged or options.systempaths_unconfined or "ALL" in options.unmask:
        kept_masked: list[str] = []
        kept_readonly: list[str] = []
    else:

        def kept(path: str) -> bool:
            return not any(fnmatchcase(path, pattern) for pattern in options.unmask)

        kept_masked = [path for path in masked if kept(path)]
        kept_readonly = [path for path in readonly if kept(path)]
    for path in options.mask:
        if path not in kept_masked:
            kept_masked.append(path)
    return kept_masked, kept_readonly


def _split(opt: str) -> tuple[str, str | None]:
    if "=" in opt:
        key, _, value = opt.partition("=")
        return key, value
    if opt == "no-new-privileges":
        return opt, None
    if ":" in opt:  # Docker's old separator, still accepted there
        key, _, value = opt.partition(":")
        return key, value
    if opt == "disable":  # Docker's short form of label=disable
        return "label", "disable"
    raise _bad(opt, "expected KEY=VALUE", "for example seccomp=unconfined or no-new-privileges")


def _bool(opt: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(opt, f"{value!r} is not true or false", None)


def _label(opt: str, value: str) -> str:
    if value in ("disable", "nested"):
        return value
    key, sep, rest = value.partition(":")
    if not sep or key not in _LABEL_KEYS or not rest:
        raise _bad(
            opt,
            f"bad label option {value!r}",
            "use disable, nested, or user:, role:, type:, level:, filetype: with a value",
        )
    return value


def _paths(opt: str, value: str, *, allow_patterns: bool) -> list[str]:
    paths = []
    for path in value.split(":"):
        if not path.startswith("/"):
            raise _bad(opt, f"{path!r} is not an absolute path", "separate paths with ':'")
        if not allow_patterns and any(char in path for char in "*?["):
            raise _bad(opt, f"{path!r}: mask takes paths, not patterns", None)
        paths.append(path)
    return paths


def _hint_for(key: str) -> str | None:
    return {
        "seccomp": "give a profile's path, or unconfined",
        "apparmor": "give a profile name, or unconfined",
        "label": "for example label=disable",
        "mask": "give paths separated by ':'",
        "unmask": "give paths separated by ':', or ALL",
    }.get(key)


def _bad(opt: str, why: str, hint: str | None) -> InvalidArgument:
    return InvalidArgument(f"invalid --security-opt {opt!r}: {why}", hint=hint)
