"""`linux.resources.unified`: raw cgroup v2 "file name" -> "value" pairs, written last so
that they override what the typed fields set.

Each key must name a file of a controller that the container's v2 cgroup has (or a
core "cgroup." file). On a hybrid host a key for a controller bound to a v1 hierarchy is
refused rather than converted; on a v1-only host every key is refused. A value with
several lines ("259:0 rbps=1\\n253:0 rbps=2") is written one line at a time, because
the kernel parses one entry per write.
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.errors import Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from capsa.cgroups._files import CgroupFiles

FIELD = "linux.resources.unified"

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_CONTROLLER_CHARS = _LOWER | frozenset("0123456789_")
_FILE_CHARS = _CONTROLLER_CHARS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ.")

# Files that move, freeze or kill processes rather than set a limit: never config.
_NOT_SETTINGS = frozenset(
    {"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze", "cgroup.events"}
)


class UnifiedSetting(Record):
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    @property
    def controller(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def field(self) -> str:
        return f'{FIELD}["{self.name}"]'


def is_file_name(name: str) -> bool:
    """Whether `name` looks like a cgroup v2 file, `controller.rest`: what the regular
    expression ^[a-z][a-z0-9_]*\\.[A-Za-z0-9_.]+$ matches (ASCII only), written without
    `re`, which costs milliseconds to import. As with that expression's `$`, one trailing
    newline is let through."""
    if name.endswith("\n"):
        name = name[:-1]
    controller, dot, rest = name.partition(".")
    return (
        bool(dot and controller and rest)
        and controller[0] in _LOWER
        and _CONTROLLER_CHARS.issuperset(controller)
        and _FILE_CHARS.issuperset(rest)
    )


def parse(resources: Mapping[str, Any]) -> tuple[UnifiedSetting, ...]:
    unified = f.section(resources, "unified")
    if not unified:
        return ()
    settings = []
    for name, value in unified.items():
        field = f'{FIELD}["{name}"]'
        if not isinstance(name, str) or not is_file_name(name) or ".." in name:
            raise field_error(field, "must name a cgroup v2 file such as 'memory.high'")
        if name in _NOT_SETTINGS:
            raise field_error(field, "is not a setting: it moves, freezes or kills processes")
        if not isinstance(value, str):
            raise field_error(field, "must be a string")
        settings.append(UnifiedSetting(name, value))
    return tuple(settings)


def check(
    settings: tuple[UnifiedSetting, ...],
    v2_controllers: frozenset[str] | None,
    v1_controllers: frozenset[str],
) -> None:
    """Refuse, before any write, keys that the container's v2 cgroup cannot hold.
    `v2_controllers` is None when the container has no v2 cgroup at all."""
    for s in settings:
        if v2_controllers is None:
            raise Unavailable(f"cannot set {s.field}: this host has no cgroup v2 hierarchy")
        if s.controller == "cgroup" or s.controller in v2_controllers:
            continue
        if s.controller in v1_controllers:
            raise Unavailable(
                f"cannot set {s.field}: the {s.controller} controller is bound to a cgroup v1 "
                "hierarchy on this host",
                hint=f"use the typed linux.resources fields for {s.controller} instead",
            )
        raise Unavailable(
            f"cannot set {s.field}: the {s.controller} controller is not available in the "
            "container's cgroup v2"
        )


def apply(files: CgroupFiles, directory: str, settings: tuple[UnifiedSetting, ...]) -> None:
    for s in settings:
        lines = [line for line in s.value.splitlines() if line.strip()] or [s.value]
        for line in lines:
            files.write(directory, s.name, line, field=s.field)
