"""`--security-opt seccomp=PATH`: a user's profile, in OCI form or Docker's, resolved to
the OCI `linux.seccomp` object for this host and container.

Docker's form adds to the OCI one an `archMap` (native architecture -> the ABIs to allow
with it), `name` as well as `names`, and per rule `includes`/`excludes` by capabilities
(of the bounding set), architectures (Docker's names: amd64, arm64, x86...) and
`minKernel` ("4.8"). They are resolved as Docker resolves them:
- a rule is dropped if an `excludes` condition holds (its architecture is the native one,
  any of its capabilities is in the bounding set, the kernel is at least its minKernel),
  or if an `includes` condition fails (the native architecture is not listed, a listed
  capability is missing, the kernel is older than its minKernel);
- `archMap`'s entry for the native architecture gives `architectures`; giving both is
  an error, as it is giving both `name` and `names`.
An OCI-form profile is the special case without any of these and passes through.

Every field is checked before anything is resolved, so a bad file gets one line naming
the file, the field in it (`syscalls[3].action`) and what is wrong.
"""

from __future__ import annotations

from _collections_abc import Mapping

from capsa.engine.seccomp_profile import normalise_capabilities
from capsa.engine.seccomp_target import kernel_version, target
from capsa.errors import InvalidArgument, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any, NoReturn

# What a resolved profile keeps of the top level and of each rule (the OCI fields).
_PROFILE_KEYS = ("defaultAction", "defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")
_RULE_KEYS = ("names", "action", "errnoRet", "args")
_FILTER_KEYS = frozenset({"caps", "arches", "minKernel"})

# parse_profile() names fields from this root; it is cut off again in messages.
_ROOT = "profile"


def load_profile_file(
    path: str,
    capabilities: Collection[str],
    arch: str | None = None,
    *,
    kernel: str | None = None,
) -> dict[str, Any]:
    """Read, check and resolve the profile at `path` (see the module's docstring).

    `capabilities` is the container's bounding set, `arch` its native architecture (this
    machine's by default), `kernel` a `uname -r` string (this kernel's by default).
    Raises InvalidArgument naming the file and the field for a bad file.
    """
    from capsa.fastjson import JSONError, loads

    where = f"seccomp profile {path}"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise InvalidArgument(
            f"cannot read {where}: {error.strerror}",
            hint="give the path of a JSON seccomp profile, or seccomp=unconfined",
        ) from None
    try:
        document = loads(data)
    except (JSONError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"{where} is not valid JSON: {error}") from None
    return resolve_profile(document, capabilities, arch, kernel=kernel, source=where)


def resolve_profile(
    document: object,
    capabilities: Collection[str],
    arch: str | None = None,
    *,
    kernel: str | None = None,
    source: str = "seccomp profile",
) -> dict[str, Any]:
    """Check and resolve an already parsed profile (the Docker API passes profiles inline).

    `source` names it in errors ("seccomp profile /etc/p.json").
    """
    if not isinstance(document, Mapping):
        raise InvalidArgument(f"invalid {source}: it must be a JSON object, not {_kind(document)}")
    _check(document, source)
    native = target(arch)
    caps = normalise_capabilities(capabilities)
    version = kernel_version(kernel) if _uses_min_kernel(document) else (0, 0)

    resolved: dict[str, Any] = {key: document[key] for key in _PROFILE_KEYS if key in document}
    if document.get("architectures"):
        resolved["architectures"] = list(document["architectures"])
    for entry in document.get("archMap") or ():
        if entry["architecture"] == native.scmp:
            subs = entry.get("subArchitectures") or ()
            resolved["architectures"] = [entry["architecture"], *subs]
            break
    syscalls = []
    for rule in document.get("syscalls") or ():
        if _excluded(rule.get("excludes"), native.docker, caps, version):
            continue
        if not _included(rule.get("includes"), native.docker, caps, version):
            continue
        out = {key: rule[key] for key in _RULE_KEYS if key in rule}
        if "name" in rule:
            out["names"] = [rule["name"]]
        syscalls.append(out)
    resolved["syscalls"] = syscalls
    return resolved


def _excluded(
    excludes: Mapping[str, Any] | None,
    arch: str,
    caps: frozenset[str],
    kernel: tuple[int, int],
) -> bool:
    if not excludes:
        return False
    if arch in (excludes.get("arches") or ()):
        return True
    if any(cap in caps for cap in excludes.get("caps") or ()):
        return True
    minimum = excludes.get("minKernel")
    return minimum is not None and kernel >= _min_kernel(minimum)


def _included(
    includes: Mapping[str, Any] | None,
    arch: str,
    caps: frozenset[str],
    kernel: tuple[int, int],
) -> bool:
    if not includes:
        return True
    arches = includes.get("arches") or ()
    if arches and arch not in arches:
        return False
    if not all(cap in caps for cap in includes.get("caps") or ()):
        return False
    minimum = includes.get("minKernel")
    return minimum is None or kernel >= _min_kernel(minimum)


def _uses_min_kernel(document: Mapping[str, Any]) -> bool:
    # Reading the kernel version only when a rule asks keeps a resolution pure otherwise.
    return any(
        (rule.get(key) or {}).get("minKernel") is not None
        for rule in document.get("syscalls") or ()
        for key in ("includes", "excludes")
    )


def _min_kernel(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor)


# -- checking --------------------------------------------------------------------------


def _check(document: Mapping[str, Any], source: str) -> None:
    """Raise InvalidArgument for the first bad field, named as in the file."""
    if "defaultAction" not in document:
        if not document.get("syscalls"):
            # Docker runs such a profile unconfined; an empty file is more likely a mistake.
            raise InvalidArgument(
                f"invalid {source}: it has no defaultAction and no syscalls",
                hint="to run without a filter say seccomp=unconfined",
            )
        _fail(source, "defaultAction", "is required")
    if document.get("architectures") and document.get("archMap"):
        _fail(source, "archMap", "give either architectures or archMap, not both")
    arch_map = document.get("archMap")
    if arch_map is not None:
        _check_arch_map(arch_map, source)
    syscalls = document.get("syscalls")
    oci_rules: list[Any] = []
    if syscalls is not None:
        if not isinstance(syscalls, list):
            _fail(source, "syscalls", f"must be an array, not {_kind(syscalls)}")
        for i, rule in enumerate(syscalls):
            oci_rules.append(_check_rule(rule, f"syscalls[{i}]", source))
    # The OCI part (actions, errno values, argument conditions, architectures, flags) is
    # checked by the runtime's own parser, so a profile accepted here loads there.
    oci = {key: document[key] for key in _PROFILE_KEYS if key in document}
    if "architectures" in document:
        oci["architectures"] = document["architectures"]
    oci["syscalls"] = oci_rules
    _check_oci(oci, source)
    for i, entry in enumerate(arch_map or ()):
        names = [entry["architecture"], *(entry.get("subArchitectures") or ())]
        for j, name in enumerate(names):
            field = f"archMap[{i}].architecture" if j == 0 else f"archMap[{i}].subArchitectures"
            if not isinstance(name, str) or not name.startswith("SCMP_ARCH_"):
                _fail(source, field, f"unknown architecture {name!r}")


def _check_arch_map(arch_map: Any, source: str) -> None:
    if not isinstance(arch_map, list):
        _fail(source, "archMap", f"must be an array, not {_kind(arch_map)}")
    for i, entry in enumerate(arch_map):
        field = f"archMap[{i}]"
        if not isinstance(entry, Mapping):
            _fail(source, field, f"must be an object, not {_kind(entry)}")
        if "architecture" not in entry:
            _fail(source, f"{field}.architecture", "is required")
        subs = entry.get("subArchitectures")
        if subs is not None and not isinstance(subs, list):
            _fail(source, f"{field}.subArchitectures", f"must be an array, not {_kind(subs)}")


def _check_rule(rule: Any, field: str, source: str) -> dict[str, Any]:
    """Check the Docker-only parts of one rule; return its OCI part for _check_oci."""
    if not isinstance(rule, Mapping):
        _fail(source, field, f"must be an object, not {_kind(rule)}")
    if "name" in rule:
        if rule.get("names"):
            _fail(source, f"{field}.name", "give either name or names, not both")
        if not isinstance(rule["name"], str) or not rule["name"]:
            _fail(source, f"{field}.name", "must be a non-empty string")
    for key in ("includes", "excludes"):
        conditions = rule.get(key)
        if conditions is None:
            continue
        if not isinstance(conditions, Mapping):
            _fail(source, f"{field}.{key}", f"must be an object, not {_kind(conditions)}")
        for name in ("caps", "arches"):
            values = conditions.get(name)
            if values is None:
                continue
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                _fail(source, f"{field}.{key}.{name}", "must be an array of strings")
        minimum = conditions.get("minKernel")
        if minimum is not None and not _is_min_kernel(minimum):
            _fail(
                source,
                f"{field}.{key}.minKernel",
                f'{minimum!r} is not a kernel version such as "4.8"',
            )
    oci = {key: rule[key] for key in _RULE_KEYS if key in rule}
    if "name" in rule:
        oci["names"] = [rule["name"]]
    return oci


def _is_min_kernel(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    major, dot, minor = value.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


def _check_oci(oci: dict[str, Any], source: str) -> None:
    from capsa.runtime.seccomp.profile import parse_profile

    try:
        parse_profile(oci, _ROOT)
    except InvalidArgument as error:
        message = error.message
        prefix = f"invalid {_ROOT}."
        if message.startswith(prefix):
            message = message[len(prefix) :]
        raise InvalidArgument(f"invalid {source}: {message}", hint=error.hint) from None
    except Unavailable:
        # SCMP_ACT_NOTIFY: valid, and runc runs it; capsa-runtime refuses it when it loads.
        pass


def _fail(source: str, field: str, reason: str) -> NoReturn:
    raise InvalidArgument(f"invalid {source}: {field}: {reason}")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)
