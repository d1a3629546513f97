"""Reading /proc/self/mountinfo and /proc/self/cgroup: which cgroup hierarchies the
host has mounted where, and which cgroup this process is in."""

from __future__ import annotations

from capsa._record import Record

_set = object.__setattr__

TYPE_CHECKING = False
if TYPE_CHECKING:
    # A v1 hierarchy: its mount point, the root of the mount, its controllers (and name=).
    Hierarchy = tuple[str, str, tuple[str, ...]]

# cgroup v1 mount options that are not controllers and do not name the hierarchy.
_V1_MOUNT_OPTIONS = frozenset(
    {"rw", "ro", "all", "none", "noprefix", "clone_children", "cpuset_v2_mode", "xattr"}
)


class MountInfo(Record):
    __slots__ = ("fstype", "mount_point", "root", "source", "super_options")
    root: str  # the directory of the filesystem that is mounted (field 4)
    mount_point: str
    fstype: str
    source: str
    super_options: tuple[str, ...]

    def __init__(
        self, root: str, mount_point: str, fstype: str, source: str, super_options: tuple[str, ...]
    ) -> None:
        _set(self, "root", root)  # not Record's per-field check: a host has many mounts
        _set(self, "mount_point", mount_point)
        _set(self, "fstype", fstype)
        _set(self, "source", source)
        _set(self, "super_options", super_options)

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


def _parse_line(line: str) -> MountInfo | None:
    fields = line.split()
    try:
        separator = fields.index("-", 6)
    except ValueError:
        return None
    if len(fields) < separator + 4:
        return None
    root, mount_point, source = fields[3], fields[4], fields[separator + 2]
    if "\\" in line:
        root, mount_point, source = _unescape(root), _unescape(mount_point), _unescape(source)
    return MountInfo(
        root, mount_point, fields[separator + 1], source, tuple(fields[separator + 3].split(","))
    )


def parse_mountinfo(text: str) -> list[MountInfo]:
    mounts: list[MountInfo] = []
    for line in text.splitlines():
        info = _parse_line(line)
        if info is not None:
            mounts.append(info)
    return mounts


def cgroup_layout(text: str, root: str) -> tuple[str | None, list[Hierarchy]]:
    """From /proc/self/mountinfo, what parse_mountinfo would tell about cgroups, parsing
    only the lines that can matter: the type of the last mount at `root` (None if
    nothing is mounted there), and the v1 hierarchies, the first mount of each mount
    point directly under `root`, as (mount point, root of the mount, controllers)."""
    top: str | None = None
    hierarchies: dict[str, Hierarchy] = {}
    for line in text.splitlines():
        # Mount points are written with only space, tab, newline and backslash escaped:
        # a line about `root` or a directory in it holds `root` as it is.
        if root not in line:
            continue
        fields = line.split()
        try:
            separator = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < separator + 4:
            continue
        escaped = "\\" in line
        mount_point = _unescape(fields[4]) if escaped else fields[4]
        fstype = fields[separator + 1]
        if mount_point == root:
            top = fstype
        elif (
            fstype == "cgroup"
            # posixpath.dirname(mount_point) == root
            and mount_point[: mount_point.rfind("/") + 1].rstrip("/") == root
            and mount_point not in hierarchies
        ):
            controllers = []
            for option in fields[separator + 3].split(","):
                if option not in _V1_MOUNT_OPTIONS and ("=" not in option or option[:5] == "name="):
                    controllers.append(option)
            mount_root = _unescape(fields[3]) if escaped else fields[3]
            hierarchies[mount_point] = (mount_point, mount_root, tuple(controllers))
    return top, list(hierarchies.values())


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
