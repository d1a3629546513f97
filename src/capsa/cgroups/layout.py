"""Where the cgroup hierarchies are mounted and where this process sits in each of them.

Everything is read from /proc/self/mountinfo and /proc/self/cgroup, never from assumed
paths. The parsers take the files' contents so that tests can describe any host.

- v1:     only cgroup (v1) hierarchies carry controllers.
- v2:     a cgroup2 mount and no v1 hierarchy with a controller.
- hybrid: v1 hierarchies carry controllers and a cgroup2 mount (systemd's
          /sys/fs/cgroup/unified) holds whatever controllers are left, maybe none.
"""

from __future__ import annotations

import posixpath

from capsa._record import Record
from capsa.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.cgroups.protocol import Mode

# Names of v1 controllers; anything else in a cgroup mount's options is a mount option.
V1_CONTROLLERS = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "debug",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)

# The one named v1 hierarchy a runtime joins (as runc does): systemd's process tracker.
SYSTEMD_HIERARCHY = "name=systemd"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


class CgroupMount(Record):
    """One mounted cgroup hierarchy."""

    __slots__ = ("controllers", "mountpoint", "name", "root", "version")

    def __init__(
        self,
        mountpoint: str,
        root: str,
        version: int,
        controllers: frozenset[str],
        name: str | None = None,
    ) -> None:
        self.mountpoint = mountpoint
        self.root = root  # the hierarchy's directory seen at the mountpoint ("/" normally)
        self.version = version  # 1 or 2
        self.controllers = controllers  # v1 controllers of this hierarchy; empty for v2
        self.name = name  # "systemd" for a v1 `name=systemd` hierarchy

    @property
    def key(self) -> str:
        """The hierarchy's name in /proc/self/cgroup: "cpu,cpuacct", "name=systemd", ""."""
        if self.version == 2:
            return ""
        if self.name is not None:
            return f"name={self.name}"
        return ",".join(sorted(self.controllers))


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts in a /proc/<pid>/mountinfo, first mount wins per
    hierarchy (later ones are bind mounts of the same hierarchy)."""
    mounts: list[CgroupMount] = []
    seen: set[tuple[int, frozenset[str], str | None]] = set()
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        fstype = fields[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        root = _unescape(fields[3])
        mountpoint = _unescape(fields[4])
        if fstype == "cgroup2":
            ident: tuple[int, frozenset[str], str | None] = (2, frozenset(), None)
            mount = CgroupMount(mountpoint, root, 2, frozenset())
        else:
            options = fields[sep + 3].split(",")
            controllers = frozenset(o for o in options if o in V1_CONTROLLERS)
            name = next((o[5:] for o in options if o.startswith("name=")), None)
            if not controllers and name is None:
                continue
            ident = (1, controllers, name)
            mount = CgroupMount(mountpoint, root, 1, controllers, name)
        if ident in seen:
            continue
        seen.add(ident)
        mounts.append(mount)
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup as {hierarchy key: path}; every controller of a co-mounted
    hierarchy ("cpu,cpuacct") is also listed on its own, and v2 has the key ""."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        result[names] = path
        if names:
            for name in names.split(","):
                result[name] = path
    return result


def mode_of(mounts: list[CgroupMount]) -> Mode:
    has_v1 = any(m.version == 1 and m.controllers for m in mounts)
    has_v2 = any(m.version == 2 for m in mounts)
    if has_v1 and has_v2:
        return "hybrid"
    if has_v1:
        return "v1"
    if has_v2:
        return "v2"
    raise Unavailable(
        "no cgroup file system is mounted",
        hint="mount cgroup2 on /sys/fs/cgroup (or the v1 hierarchies) to run containers",
    )


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def detect_mode(mountinfo: str | None = None) -> Mode:
    """ "v1", "v2" or "hybrid", from the given mountinfo text or /proc/self/mountinfo."""
    if mountinfo is None:
        mountinfo = _read("/proc/self/mountinfo")
    return mode_of(parse_mountinfo(mountinfo))


class Hierarchy(Record):
    """A hierarchy the runtime uses, with this process's own cgroup in it."""

    __slots__ = ("mount", "own_path")

    def __init__(self, mount: CgroupMount, own_path: str | None) -> None:
        self.mount = mount
        self.own_path = own_path  # this process's cgroup as /proc/self/cgroup shows it

    @property
    def own_relative(self) -> str | None:
        """Our own cgroup relative to the mountpoint, or None if it is not visible there."""
        own, root = self.own_path, self.mount.root
        if own is None:
            return None
        if root == "/":
            return own
        if own == root:
            return "/"
        if own.startswith(root.rstrip("/") + "/"):
            return own[len(root.rstrip("/")) :]
        return None


class CgroupLayout(Record):
    """The hierarchies of this host: v1 ones that carry controllers (plus name=systemd)
    and the unified (v2) one, either of which may be absent."""

    __slots__ = ("mode", "unified", "v1")

    def __init__(self, mode: Mode, v1: tuple[Hierarchy, ...], unified: Hierarchy | None) -> None:
        self.mode: Mode = mode
        self.v1 = v1
        self.unified = unified

    @classmethod
    def parse(cls, mountinfo: str, proc_cgroup: str) -> CgroupLayout:
        mounts = parse_mountinfo(mountinfo)
        mode = mode_of(mounts)
        own = parse_proc_cgroup(proc_cgroup)
        v1: list[Hierarchy] = []
        unified: Hierarchy | None = None
        for mount in mounts:
            if mount.version == 2:
                unified = Hierarchy(mount, own.get(""))
            elif mode != "v2" and (mount.controllers or mount.name == "systemd"):
                path = own.get(mount.key)
                if path is None and mount.controllers:
                    path = own.get(next(iter(sorted(mount.controllers))))
                v1.append(Hierarchy(mount, path))
        return cls(mode, tuple(v1), unified)

    @classmethod
    def detect(cls) -> CgroupLayout:
        if _pinned is not None:
            return _pinned
        return cls.parse(_read("/proc/self/mountinfo"), _read("/proc/self/cgroup"))

    def mountpoint_of(self, directory: str) -> str | None:
        best: str | None = None
        for h in (*self.v1, *((self.unified,) if self.unified else ())):
            mp = h.mount.mountpoint.rstrip("/") or "/"
            if (directory == mp or directory.startswith(mp + "/")) and (
                best is None or len(mp) > len(best)
            ):
                best = mp
        return best


_pinned: CgroupLayout | None = None


def pin_layout() -> CgroupLayout:
    """Detect the layout once and have every later `detect` in this process (and its
    forks) return it: for a long-lived process that stays in its cgroups, on a host whose
    cgroup mounts do not move (the monitor host, which reads it at every start and exit)."""
    global _pinned
    _pinned = None
    _pinned = CgroupLayout.detect()
    return _pinned


def clean_join(base: str, relative: str) -> str:
    """`base` + `relative` where `relative` is already clean ("a/b", no dots)."""
    base = base.rstrip("/")
    return f"{base}/{relative}" if relative else (base or "/")


def parent_path(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or "/"
