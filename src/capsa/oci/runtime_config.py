"""The OCI runtime-spec config.json: validation of the sections the runtime core reads.

Pure data, no I/O. Sections owned by other packages (mounts and devices by the rootfs
code, linux.resources by cgroups, linux.seccomp by the seccomp compiler) are validated
there, next to the code that reads them. Every error names the field (`process.args`)
and the reason, so a user can fix the file in one go.
"""

from __future__ import annotations

from capsa.errors import InvalidArgument, field_error
from capsa.oci.capabilities import CAPABILITIES

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
HOOK_KINDS = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)
RLIMITS = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
)
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
IO_PRIORITY_CLASSES = ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")
SCHED_POLICIES = (
    "SCHED_OTHER",
    "SCHED_FIFO",
    "SCHED_RR",
    "SCHED_BATCH",
    "SCHED_ISO",
    "SCHED_IDLE",
    "SCHED_DEADLINE",
)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_REST = _ID_FIRST | frozenset("_+-.")


def validate_container_id(container_id: str) -> None:
    """IDs become directory and cgroup names: keep them to runc's safe alphabet."""
    if not container_id:
        raise InvalidArgument("container ID must not be empty")
    if (
        len(container_id) > 1024
        or container_id[0] not in _ID_FIRST
        or not _ID_REST.issuperset(container_id)
    ):
        raise InvalidArgument(
            f"invalid container ID {container_id!r}",
            hint="use letters, digits, '_', '+', '-' and '.', starting with a letter or digit",
        )


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise field_error(field, f"must be an object, not {type(value).__name__}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise field_error(field, f"must be an array, not {type(value).__name__}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise field_error(field, f"must be a string, not {type(value).__name__}")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise field_error(field, f"must be true or false, not {value!r}")
    return value


def _int(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, f"must be an integer, not {value!r}")
    if low is not None and value < low:
        raise field_error(field, f"must be at least {low}, not {value}")
    if high is not None and value > high:
        raise field_error(field, f"must be at most {high}, not {value}")
    return value


def _str_list(value: Any, field: str) -> list[str]:
    items = _list(value, field)
    for index, item in enumerate(items):
        _str(item, f"{field}[{index}]")
    return items


def _env(value: Any, field: str) -> None:
    for index, item in enumerate(_str_list(value, field)):
        if "=" not in item:
            raise field_error(f"{field}[{index}]", f"{item!r} is not of the form KEY=value")


def validate_runtime_config(config: Any) -> None:
    """Raise InvalidArgument naming the first bad field of a config.json document."""
    spec = _obj(config, "config.json")
    _str(spec.get("ociVersion"), "ociVersion")
    root = _obj(spec.get("root"), "root")
    if not _str(root.get("path"), "root.path"):
        raise field_error("root.path", "must not be empty")
    if "readonly" in root:
        _bool(root["readonly"], "root.readonly")
    if "hostname" in spec:
        _str(spec["hostname"], "hostname")
    if "domainname" in spec:
        _str(spec["domainname"], "domainname")
    if "process" in spec:
        validate_process(spec["process"], "process", require_cwd=True)
    if "mounts" in spec:
        for index, mount in enumerate(_list(spec["mounts"], "mounts")):
            _str(_obj(mount, f"mounts[{index}]").get("destination"), f"mounts[{index}].destination")
    if "hooks" in spec:
        _validate_hooks(spec["hooks"])
    if "annotations" in spec:
        for key, value in _obj(spec["annotations"], "annotations").items():
            _str(value, f"annotations.{key}")
    if "linux" in spec:
        _validate_linux(_obj(spec["linux"], "linux"))


def validate_process(value: Any, field: str, *, require_cwd: bool) -> None:
    process = _obj(value, field)
    args = _str_list(process.get("args", []), f"{field}.args")
    if not args:
        raise field_error(f"{field}.args", "must name the program to run")
    if require_cwd or "cwd" in process:
        cwd = _str(process.get("cwd"), f"{field}.cwd")
        if not cwd.startswith("/"):
            raise field_error(f"{field}.cwd", f"{cwd!r} must be an absolute path")
    if "env" in process:
        _env(process["env"], f"{field}.env")
    if "terminal" in process:
        _bool(process["terminal"], f"{field}.terminal")
    if "consoleSize" in process:
        size = _obj(process["consoleSize"], f"{field}.consoleSize")
        _int(size.get("height"), f"{field}.consoleSize.height", 0, UINT32_MAX)
        _int(size.get("width"), f"{field}.consoleSize.width", 0, UINT32_MAX)
    if "user" in process:
        user = _obj(process["user"], f"{field}.user")
        _int(user.get("uid", 0), f"{field}.user.uid", 0, UINT32_MAX)
        _int(user.get("gid", 0), f"{field}.user.gid", 0, UINT32_MAX)
        if "umask" in user:
            _int(user["umask"], f"{field}.user.umask", 0, 0o777)
        for index, gid in enumerate(
            _list(user.get("additionalGids", []), f"{field}.user.additionalGids")
        ):
            _int(gid, f"{field}.user.additionalGids[{index}]", 0, UINT32_MAX)
    if "capabilities" in process:
        caps = _obj(process["capabilities"], f"{field}.capabilities")
        for kind, names in caps.items():
            if kind not in CAPABILITY_SETS:
                raise field_error(
                    f"{field}.capabilities.{kind}",
                    "unknown capability set",
                    hint=f"use one of {', '.join(CAPABILITY_SETS)}",
                )
            for index, name in enumerate(_str_list(names, f"{field}.capabilities.{kind}")):
                if name.upper() not in CAPABILITIES:
                    raise field_error(
                        f"{field}.capabilities.{kind}[{index}]", f"unknown capability {name!r}"
                    )
    if "noNewPrivileges" in process:
        _bool(process["noNewPrivileges"], f"{field}.noNewPrivileges")
    if "rlimits" in process:
        seen: set[str] = set()
        for index, rlimit in enumerate(_list(process["rlimits"], f"{field}.rlimits")):
            where = f"{field}.rlimits[{index}]"
            item = _obj(rlimit, where)
            kind = _str(item.get("type"), f"{where}.type")
            if kind not in RLIMITS:
                raise field_error(f"{where}.type", f"unknown resource limit {kind!r}")
            if kind in seen:
                raise field_error(f"{where}.type", f"{kind} is given twice")
            seen.add(kind)
            soft = _int(item.get("soft"), f"{where}.soft", 0, UINT64_MAX)
            hard = _int(item.get("hard"), f"{where}.hard", 0, UINT64_MAX)
            if soft > hard:
                raise field_error(where, f"soft limit {soft} is above the hard limit {hard}")
    if "oomScoreAdj" in process:
        _int(process["oomScoreAdj"], f"{field}.oomScoreAdj", -1000, 1000)
    for key in ("apparmorProfile", "selinuxLabel"):
        if key in process:
            _str(process[key], f"{field}.{key}")
    if "ioPriority" in process:
        prio = _obj(process["ioPriority"], f"{field}.ioPriority")
        if _str(prio.get("class"), f"{field}.ioPriority.class") not in IO_PRIORITY_CLASSES:
            raise field_error(f"{field}.ioPriority.class", f"unknown class {prio['class']!r}")
        _int(prio.get("priority", 0), f"{field}.ioPriority.priority", 0, 7)
    if "scheduler" in process:
        sched = _obj(process["scheduler"], f"{field}.scheduler")
        if _str(sched.get("policy"), f"{field}.scheduler.policy") not in SCHED_POLICIES:
            raise field_error(f"{field}.scheduler.policy", f"unknown policy {sched['policy']!r}")
        _int(sched.get("nice", 0), f"{field}.scheduler.nice", -20, 19)
        _int(sched.get("priority", 0), f"{field}.scheduler.priority", 0, 99)
        for key in ("runtime", "deadline", "period"):
            _int(sched.get(key, 0), f"{field}.scheduler.{key}", 0, UINT64_MAX)
        _str_list(sched.get("flags", []), f"{field}.scheduler.flags")


def _validate_hooks(value: Any) -> None:
    hooks = _obj(value, "hooks")
    for kind, entries in hooks.items():
        if kind not in HOOK_KINDS:
            raise field_error(
                f"hooks.{kind}", "unknown hook kind", hint=f"use one of {', '.join(HOOK_KINDS)}"
            )
        for index, hook in enumerate(_list(entries, f"hooks.{kind}")):
            where = f"hooks.{kind}[{index}]"
            item = _obj(hook, where)
            path = _str(item.get("path"), f"{where}.path")
            if not path.startswith("/"):
                raise field_error(f"{where}.path", f"{path!r} must be an absolute path")
            if "args" in item:
                _str_list(item["args"], f"{where}.args")
            if "env" in item:
                _env(item["env"], f"{where}.env")
            if "timeout" in item:
                _int(item["timeout"], f"{where}.timeout", 1)


def _validate_mappings(value: Any, field: str) -> None:
    for index, mapping in enumerate(_list(value, field)):
        where = f"{field}[{index}]"
        item = _obj(mapping, where)
        _int(item.get("containerID"), f"{where}.containerID", 0, UINT32_MAX)
        _int(item.get("hostID"), f"{where}.hostID", 0, UINT32_MAX)
        _int(item.get("size"), f"{where}.size", 1, UINT32_MAX)


def _validate_linux(linux: Mapping[str, Any]) -> None:
    kinds: set[str] = set()
    for index, ns in enumerate(_list(linux.get("namespaces", []), "linux.namespaces")):
        where = f"linux.namespaces[{index}]"
        item = _obj(ns, where)
        kind = _str(item.get("type"), f"{where}.type")
        if kind not in NAMESPACE_TYPES:
            raise field_error(
                f"{where}.type",
                f"unknown namespace type {kind!r}",
                hint=f"use one of {', '.join(NAMESPACE_TYPES)}",
            )
        if kind in kinds:
            raise field_error(f"{where}.type", f"namespace {kind!r} is listed twice")
        kinds.add(kind)
        if "path" in item:
            path = _str(item["path"], f"{where}.path")
            if not path.startswith("/"):
                raise field_error(f"{where}.path", f"{path!r} must be an absolute path")
    for key in ("uidMappings", "gidMappings"):
        if key in linux:
            if "user" not in kinds:
                raise field_error(f"linux.{key}", "needs a user namespace in linux.namespaces")
            _validate_mappings(linux[key], f"linux.{key}")
    if "sysctl" in linux:
        for key, val in _obj(linux["sysctl"], "linux.sysctl").items():
            _str(val, f"linux.sysctl.{key}")
    if "cgroupsPath" in linux:
        _str(linux["cgroupsPath"], "linux.cgroupsPath")
    if "personality" in linux:
        pers = _obj(linux["personality"], "linux.personality")
        domain = _str(pers.get("domain"), "linux.personality.domain")
        if domain not in PERSONALITY_DOMAINS:
            raise field_error(
                "linux.personality.domain",
                f"unknown domain {domain!r}",
                hint="use LINUX or LINUX32",
            )
        _str_list(pers.get("flags", []), "linux.personality.flags")
    for key in ("maskedPaths", "readonlyPaths"):
        if key in linux:
            _str_list(linux[key], f"linux.{key}")
    if "timeOffsets" in linux:
        if "time" not in kinds:
            raise field_error("linux.timeOffsets", "needs a time namespace in linux.namespaces")
        for clock, offset in _obj(linux["timeOffsets"], "linux.timeOffsets").items():
            if clock not in ("monotonic", "boottime"):
                raise field_error(f"linux.timeOffsets.{clock}", "unknown clock")
            item = _obj(offset, f"linux.timeOffsets.{clock}")
            _int(item.get("secs", 0), f"linux.timeOffsets.{clock}.secs")
            _int(item.get("nanosecs", 0), f"linux.timeOffsets.{clock}.nanosecs", 0, 999_999_999)
    if "mountLabel" in linux:
        _str(linux["mountLabel"], "linux.mountLabel")
