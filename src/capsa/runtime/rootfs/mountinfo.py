"""Reading /proc/self/mountinfo and /proc/self/cgroup: which cgroup hierarchies the
host has mounted where, and which cgroup this process is in."""

from __future__ import annotations

from capsa._record import Record

# cgroup v1 mount options that are not controllers and do not name the hierarchy.
_V1_MOUNT_OPTIONS = frozenset(
    {"rw", "ro", "all", "none", "noprefix", "clone_children", "cpuset_v2_mode", "xattr"}
)


class MountInfo(Record):
    __slots__ = ("fstype", "mount_point", "root", "source", "super_options")

    def __init__(
        self, root: str, mount_point: str, fstype: str, source: str, super_options: tuple[str, ...]
    ) -> None:
        self.root = root  # the directory of the filesystem that is mounted (field 4)
        self.mount_point = mount_point
        self.fstype = fstype
        self.source = source
        self.super_options = super_options

    @property
    def controllers(self) -> tuple[str, ...]:
        """A v1 hierarchy's controllers and `name=`, as /proc/self/cgroup lists them."""
        return tuple(
            option
            for option in self.super_options
            if option not in _V1_MOUNT_OPTIONS and ("=" not in option or option[:5] == "name=")
        )


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash as \ooo octal escapes.
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    mounts: list[MountInfo] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            separator = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < separator + 4:
            continue
        mounts.append(
            MountInfo(
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
                fstype=fields[separator + 1],
                source=_unescape(fields[separator + 2]),
                super_options=tuple(fields[separator + 3].split(",")),
            )
        )
    return mounts


def parse_proc_cgroup(text: str) -> dict[frozenset[str], str]:
    """{controllers of a hierarchy: this process's cgroup in it}; the v2 hierarchy has
    the empty set."""
    groups: dict[frozenset[str], str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            controllers = frozenset(c for c in parts[1].split(",") if c)
            groups[controllers] = parts[2]
    return groups
