"""Which namespaces a container gets: new ones to unshare, existing ones to join by path,
and the uid/gid maps of a new user namespace."""

from __future__ import annotations

import os

from capsa.errors import ContainerError, NotFound, PermissionDenied, Unavailable
from capsa.kernel import namespaces as kns

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


class NamespacePlan:
    __slots__ = ("join", "kinds", "new_user", "unshare_flags")

    def __init__(
        self,
        unshare_flags: int = 0,
        new_user: bool = False,
        join: tuple[tuple[str, str], ...] = (),
        kinds: frozenset[str] = frozenset(),
    ) -> None:
        self.unshare_flags = unshare_flags  # new namespaces other than user
        self.new_user = new_user
        self.join = join  # (type, path) to setns into, the user namespace first
        self.kinds = kinds

    @property
    def has_pid(self) -> bool:
        return "pid" in self.kinds

    @property
    def has_mount(self) -> bool:
        return "mount" in self.kinds

    @property
    def user_namespace(self) -> bool:
        return "user" in self.kinds

    def joins(self, kind: str) -> bool:
        return any(k == kind for k, _ in self.join)


def plan(linux: Mapping[str, Any]) -> NamespacePlan:
    flags = 0
    new_user = False
    join: list[tuple[str, str]] = []
    kinds: set[str] = set()
    for ns in linux.get("namespaces", []):
        kind = ns["type"]
        kinds.add(kind)
        if not kns.namespace_available(kind):
            raise Unavailable(f"this kernel has no {kind} namespace (linux.namespaces)")
        path = ns.get("path")
        if path:
            if not os.path.exists(path):
                raise NotFound(f"namespace path {path!r} for {kind} does not exist")
            join.append((kind, path))
        elif kind == "user":
            new_user = True
        else:
            flags |= kns.NAMESPACES[kind][0]
    join.sort(key=lambda item: item[0] != "user")  # the user namespace is joined first
    return NamespacePlan(flags, new_user, tuple(join), frozenset(kinds))


def open_join_fds(plan: NamespacePlan) -> list[tuple[str, int]]:
    fds = []
    for kind, path in plan.join:
        try:
            fds.append((kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        except OSError as exc:
            raise ContainerError(f"cannot open {kind} namespace {path}: {exc.strerror}") from None
    return fds


def join_namespaces(fds: Sequence[tuple[str, int]]) -> None:
    for kind, fd in fds:
        try:
            kns.setns(fd, kns.NAMESPACES[kind][0])
        except OSError as exc:
            raise ContainerError(f"cannot join {kind} namespace: {exc.strerror}") from None
        finally:
            os.close(fd)


def _format_map(mappings: Sequence[Mapping[str, Any]]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def write_id_maps(pid: int, linux: Mapping[str, Any]) -> None:
    """Write /proc/PID/{uid,gid}_map for a child that unshared a user namespace.

    Root writes the maps directly. A rootless caller may map only its own ids directly
    (after denying setgroups); wider maps go through newuidmap/newgidmap (shadow's
    setuid helpers, which check /etc/subuid and /etc/subgid)."""
    uid_map = linux.get("uidMappings") or [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    gid_map = linux.get("gidMappings") or [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    if os.geteuid() == 0:
        _write(f"/proc/{pid}/uid_map", _format_map(uid_map))
        _write(f"/proc/{pid}/gid_map", _format_map(gid_map))
        return
    own = len(uid_map) == 1 and uid_map[0]["hostID"] == os.geteuid() and uid_map[0]["size"] == 1
    if own:
        _write(f"/proc/{pid}/uid_map", _format_map(uid_map))
    else:
        _helper("newuidmap", pid, uid_map)
    own_gid = len(gid_map) == 1 and gid_map[0]["hostID"] == os.getegid() and gid_map[0]["size"] == 1
    if own_gid:
        _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/gid_map", _format_map(gid_map))
    else:
        _helper("newgidmap", pid, gid_map)


def _write(path: str, data: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(data)
    except OSError as exc:
        raise PermissionDenied(f"cannot write {path} ({data.strip()!r}): {exc.strerror}") from None


def _helper(tool: str, pid: int, mappings: Sequence[Mapping[str, Any]]) -> None:
    import shutil
    import subprocess

    binary = shutil.which(tool)
    if binary is None:
        raise Unavailable(
            f"a rootless container with several id mappings needs {tool}",
            hint="apt-get install uidmap, and give your user ranges in /etc/subuid and /etc/subgid",
        )
    args = [binary, str(pid)]
    for m in mappings:
        args += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PermissionDenied(f"{tool} failed: {result.stderr.strip() or result.returncode}")
