"""`FsManager`: a container's cgroups driven through cgroupfs, on v1, v2 and hybrid hosts.

One manager handles all three layouts. It knows the container's directory in each v1
hierarchy (by controller) and in the unified v2 hierarchy, and routes every controller
to where the host has it: a controller bound to a v1 hierarchy is used there, anything
else comes from the unified hierarchy if the container's v2 cgroup offers it. On a
hybrid host that means v1 for memory, cpu, pids... and v2 for hugetlb (or whatever the
unified mount holds) plus process tracking, freezing and killing where v1 lacks them.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from capsa.cgroups._files import CgroupFiles
from capsa.cgroups.layout import SYSTEMD_HIERARCHY, CgroupLayout, parent_path
from capsa.errors import CapsaError, Conflict, InvalidArgument, PermissionDenied, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from capsa.cgroups._controller import Controller
    from capsa.cgroups.protocol import Mode
    from capsa.cgroups.stats import CgroupStats

UNIFIED = "unified"  # the key of the v2 directory in paths()

DEFAULT_FREEZE_TIMEOUT = 10.0
SIGKILL = 9  # the same on every Linux architecture; the signal module is slow to import

# rmdir of a cgroup whose last task has just exited can fail with EBUSY for a moment.
_RMDIR_DELAYS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256)


def _debug(message: str) -> None:
    # Until something imports logging nothing can have configured it, and an unconfigured
    # logger drops debug messages: so do not pay for importing it just to drop one.
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger("capsa.cgroups").debug("%s", message)


class FsManager:
    """The cgroups of one container. Build it with `capsa.cgroups.create_manager` (new
    container) or `FsManager.from_paths` (a container created by an earlier process)."""

    def __init__(
        self,
        v1: Mapping[str, str],
        unified: str | None,
        *,
        layout: CgroupLayout | None = None,
        rootless: bool = False,
        files: CgroupFiles | None = None,
        freeze_timeout: float = DEFAULT_FREEZE_TIMEOUT,
    ) -> None:
        if not v1 and unified is None:
            raise Unavailable("no cgroup hierarchy to place the container in")
        for key, path in (*v1.items(), (UNIFIED, unified or "/")):
            if not os.path.isabs(path) or os.path.normpath(path) != path:
                raise InvalidArgument(
                    f"cgroup path for {key} is not a clean absolute path: {path!r}"
                )
        self._v1 = dict(v1)
        self._unified = unified
        self._layout = layout
        self._rootless = rootless
        self._files = files if files is not None else CgroupFiles()
        self._freeze_timeout = freeze_timeout
        self._dropped: dict[str, str] = {}  # key -> why the hierarchy was left out
        self._v2_controllers: frozenset[str] | None = None
        # Hierarchies the container can do without: systemd's tracker and, next to v1
        # controllers, the unified hierarchy (needed only if it holds a controller asked for).
        self._optional = {SYSTEMD_HIERARCHY}
        if self._has_v1_controllers():
            self._optional.add(UNIFIED)

    @classmethod
    def from_paths(
        cls, paths: Mapping[str, str], *, rootless: bool = False, files: CgroupFiles | None = None
    ) -> FsManager:
        """Rebuild the manager of an existing container from its saved `paths()`."""
        v1 = {k: v for k, v in paths.items() if k != UNIFIED}
        return cls(v1, paths.get(UNIFIED), rootless=rootless, files=files)

    # -- where things are ------------------------------------------------------------

    def _has_v1_controllers(self) -> bool:
        return any(k != SYSTEMD_HIERARCHY for k in self._v1)

    @property
    def mode(self) -> Mode:
        if self._has_v1_controllers():
            return "hybrid" if self._unified is not None else "v1"
        return "v2" if self._unified is not None else "v1"

    def paths(self) -> dict[str, str]:
        result = dict(self._v1)
        if self._unified is not None:
            result[UNIFIED] = self._unified
        return result

    def _directories(self) -> list[tuple[str, str]]:
        """(key, directory) for each distinct directory, v1 first."""
        seen: set[str] = set()
        result = []
        for key, path in (*self._v1.items(), *((UNIFIED, self._unified),)):
            if path is not None and path not in seen:
                seen.add(path)
                result.append((key, path))
        return result

    def _mountpoint(self, directory: str) -> str:
        layout = self._layout
        if layout is None:
            layout = self._layout = CgroupLayout.detect()
        mountpoint = layout.mountpoint_of(directory)
        if mountpoint is None:
            raise Unavailable(f"{directory} is not on a mounted cgroup file system")
        return mountpoint

    def _drop(self, key: str, directory: str, reason: str) -> None:
        _debug(f"leaving out cgroup {directory}: {reason}")
        for k in [k for k, v in self.paths().items() if v == directory]:
            self._dropped[k] = reason
            if k == UNIFIED:
                self._unified = None
            else:
                del self._v1[k]

    def _tracking_directory(self) -> str | None:
        for key in ("freezer", "pids", "memory"):
            if key in self._v1:
                return self._v1[key]
        if self._unified is not None:
            return self._unified
        return next(iter(self._v1.values()), None)

    # -- lifecycle -------------------------------------------------------------------

    def create(self, *, v1: bool = True, unified: bool = True) -> None:
        for key, directory in self._directories():
            if not (unified if key == UNIFIED else v1):
                continue
            try:
                self._make_directories(directory)
            except OSError as err:
                if key in self._optional or (
                    self._rootless and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
                ):
                    self._drop(key, directory, os.strerror(err.errno or 0))
                    continue
                detail = f"cannot create cgroup {directory}: {os.strerror(err.errno or 0)}"
                if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise PermissionDenied(detail) from None
                raise CapsaError(detail) from None
        if v1 and "cpuset" in self._v1:
            from capsa.cgroups import cpuset

            directory = self._v1["cpuset"]
            try:
                cpuset.populate_v1(self._files, directory, self._mountpoint(directory))
            except OSError as err:
                raise CapsaError(
                    f"cannot copy cpuset.cpus/mems into {directory}: {os.strerror(err.errno or 0)}"
                ) from None
        if unified and self._unified is not None:
            try:
                self._enable_v2_controllers(self._unified)
            except OSError as err:
                if not (UNIFIED in self._optional or self._rootless):
                    raise CapsaError(
                        f"cannot enable controllers above {self._unified}: "
                        f"{os.strerror(err.errno or 0)}"
                    ) from None
                self._drop(UNIFIED, self._unified, os.strerror(err.errno or 0))

    def _make_directories(self, path: str) -> None:
        try:
            self._files.mkdir(path)
        except FileNotFoundError:
            parent = parent_path(path)
            if parent == path:
                raise
            self._make_directories(parent)
            self._files.mkdir(path)

    def _enable_v2_controllers(self, directory: str) -> None:
        """Enable in every ancestor (from the mount down) each controller it offers, as
        runc does: limits and statistics need the controller in the container's cgroup."""
        mountpoint = self._mountpoint(directory).rstrip("/")
        ancestors = []
        path = parent_path(directory)
        while len(path) >= len(mountpoint) and path.startswith(mountpoint):
            ancestors.append(path)
            if path == mountpoint:
                break
            path = parent_path(path)
        files = self._files
        for ancestor in reversed(ancestors):
            available = files.read(ancestor, "cgroup.controllers").split()
            enabled = set(files.read(ancestor, "cgroup.subtree_control").split())
            missing = [c for c in available if c not in enabled]
            if not missing:
                continue
            try:
                files.write(ancestor, "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            except CapsaError:
                # One controller can block the others (cpu with real-time tasks, say):
                # enable what can be enabled.
                for controller in missing:
                    try:
                        files.write(ancestor, "cgroup.subtree_control", f"+{controller}")
                    except CapsaError as err:
                        _debug(f"cannot enable {controller} in {ancestor}: {err}")
        self._v2_controllers = None

    def exists(self) -> bool:
        directory = self._tracking_directory()
        return directory is not None and self._files.isdir(directory)

    def destroy(self) -> None:
        """Remove the container's directories (and any below them). Already gone is fine;
        a cgroup that still has processes fails after a short wait."""
        failures: list[CapsaError] = []
        for _, directory in self._directories():
            try:
                self._remove_tree(directory)
            except CapsaError as err:
                failures.append(err)
        if failures:
            if len(failures) == 1:
                raise failures[0]
            raise Conflict(
                "; ".join(str(f) for f in failures), hint="kill the container's processes first"
            )

    def _remove_tree(self, directory: str) -> None:
        for child in self._files.subdirectories(directory):
            self._remove_tree(child)
        for delay in (*_RMDIR_DELAYS, None):
            try:
                self._files.rmdir(directory)
                return
            except FileNotFoundError:
                return
            except OSError as err:
                if err.errno != errno.EBUSY:
                    detail = f"cannot remove cgroup {directory}: {os.strerror(err.errno or 0)}"
                    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                        raise PermissionDenied(detail) from None
                    raise CapsaError(detail) from None
                if delay is None:
                    raise Conflict(
                        f"cannot remove cgroup {directory}: it still has processes",
                        hint="kill the container's processes first",
                    ) from None
                time.sleep(delay)

    # -- limits ----------------------------------------------------------------------

    def _leaf_v2_controllers(self) -> frozenset[str]:
        if self._v2_controllers is None:
            assert self._unified is not None
            try:
                text = self._files.read(self._unified, "cgroup.controllers")
            except FileNotFoundError:
                from capsa.errors import NotFound

                raise NotFound(
                    f"cgroup {self._unified} does not exist", hint="create the cgroup first"
                ) from None
            self._v2_controllers = frozenset(text.split())
        return self._v2_controllers

    def _route(self, controller: Controller[Any]) -> tuple[int, str]:
        if controller.v1 is not None and controller.v1 in self._v1:
            return 1, self._v1[controller.v1]
        if self._unified is not None and controller.v2_available(self._leaf_v2_controllers()):
            return 2, self._unified
        for key in (controller.v1, UNIFIED):
            if key is not None and key in self._dropped:
                raise PermissionDenied(
                    f"cannot set {controller.field}: the container has no {controller.name} "
                    f"cgroup ({self._dropped[key]})"
                )
        if self._unified is not None and controller.v2 is None:
            why = f"cgroup v2 has no {controller.name} controller"
        elif self._unified is not None:
            why = f"the {controller.name} controller is not available in {self._unified}"
        else:
            why = f"no cgroup hierarchy with the {controller.name} controller is mounted"
        raise Unavailable(f"cannot set {controller.field}: {why}")

    def apply(self, resources: Mapping[str, Any] | None) -> None:
        """Validate `linux.resources` entirely, check that the host can hold every limit
        asked for, then write them. Only what the config sets is written."""
        from capsa.cgroups.resources import parse_resources

        parsed = parse_resources(resources)
        if not parsed:
            return
        plan = []
        for controller, settings in parsed.settings:
            version, directory = self._route(controller)
            controller.precheck(version, settings)
            plan.append((controller, settings, version, directory))
        if parsed.unified:
            from capsa.cgroups import unified

            v1_controllers = frozenset(self._v1) | frozenset(
                k for k in self._dropped if k != UNIFIED
            )
            v2 = self._leaf_v2_controllers() if self._unified is not None else None
            unified.check(parsed.unified, v2, v1_controllers)
        for controller, settings, version, directory in plan:
            if version == 1:
                controller.apply_v1(self._files, directory, settings)
            else:
                controller.apply_v2(self._files, directory, settings)
        if parsed.unified:
            from capsa.cgroups import unified

            assert self._unified is not None
            unified.apply(self._files, self._unified, parsed.unified)

    def update(self, resources: Mapping[str, Any] | None) -> None:
        """`capsa-runtime update`: the same as apply, on a running container."""
        self.apply(resources)

    # -- processes -------------------------------------------------------------------

    def add_process(self, pid: int, *, v1: bool = True) -> None:
        """Move a process (and, on v1, only that thread group) into every hierarchy, or
        with v1=False into the unified one alone (after `enter_v1`)."""
        value = str(pid)
        for key, directory in self._directories():
            if v1 or key == UNIFIED:
                self._join(key, directory, "cgroup.procs", value)

    def enter_v1(self) -> None:
        """Move the calling thread into every v1 hierarchy: for a single-threaded caller,
        the same as add_process(its pid) there, but it does not wait.

        A pid written to cgroup.procs (or to tasks) takes the kernel's global threadgroup
        lock, whose first use after a quiet spell waits for an RCU grace period (7-30 ms
        here). "0" written to `tasks` moves the writing thread alone, which needs no
        threadgroup lock. v2 has no such file (cgroup.threads moves threads within one
        domain only): there a child is cloned into the cgroup instead."""
        for key, directory in self._directories():
            if key != UNIFIED:
                self._join(key, directory, "tasks", "0")

    def _join(self, key: str, directory: str, name: str, value: str) -> None:
        try:
            self._files.write(directory, name, value)
        except PermissionDenied:
            if not (self._rootless or key in self._optional):
                raise
            self._drop(key, directory, "cannot move processes into it")

    def pids(self) -> list[int]:
        """Every process in the container's cgroup and the cgroups below it."""
        top = self._tracking_directory()
        if top is None:
            return []
        found: set[int] = set()
        pending = [top]
        while pending:
            directory = pending.pop()
            text = self._files.read_optional(directory, "cgroup.procs")
            if text is None:
                continue
            found.update(int(x) for x in text.split())
            pending.extend(self._files.subdirectories(directory))
        return sorted(found)

    def _freezer(self) -> tuple[int, str] | None:
        if "freezer" in self._v1:
            return 1, self._v1["freezer"]
        if self._unified is not None and self._files.exists(self._unified, "cgroup.freeze"):
            return 2, self._unified
        return None

    def freeze(self) -> None:
        from capsa.cgroups import freezer

        target = self._freezer()
        if target is None:
            raise Unavailable("cannot freeze the container: this host has no cgroup freezer")
        version, directory = target
        if version == 1:
            freezer.freeze_v1(self._files, directory, self._freeze_timeout)
        else:
            freezer.freeze_v2(self._files, directory, self._freeze_timeout)

    def thaw(self) -> None:
        from capsa.cgroups import freezer

        target = self._freezer()
        if target is None:
            raise Unavailable("cannot thaw the container: this host has no cgroup freezer")
        version, directory = target
        if version == 1:
            freezer.thaw_v1(self._files, directory)
        else:
            freezer.thaw_v2(self._files, directory)

    def is_frozen(self) -> bool:
        from capsa.cgroups import freezer

        target = self._freezer()
        if target is None:
            return False
        version, directory = target
        try:
            if version == 1:
                return freezer.is_frozen_v1(self._files, directory)
            return freezer.is_frozen_v2(self._files, directory)
        except FileNotFoundError:
            return False

    def kill_all(self, signal: int = SIGKILL) -> None:
        """Send `signal` to every process in the container's cgroup.

        SIGKILL goes through cgroup.kill where the kernel has it (v2, Linux 5.14), which
        cannot miss a process forked meanwhile. Otherwise the cgroup is frozen while its
        processes are signalled so that none can fork past the sweep, then thawed again
        (left frozen if it was paused and the signal is not SIGKILL).
        """
        files = self._files
        target = self._freezer()
        was_frozen = self.is_frozen()
        if (
            signal == SIGKILL
            and self._unified is not None
            and files.exists(self._unified, "cgroup.kill")
        ):
            files.write(self._unified, "cgroup.kill", "1")
            if self._has_v1_controllers():
                # Hybrid: a process could sit in v1 cgroups without the unified one.
                self._signal_each(signal)
            if was_frozen and target is not None and target[0] == 1:
                self.thaw()  # a task frozen by the v1 freezer dies only once thawed
            return
        froze = False
        if target is not None and not was_frozen:
            try:
                self.freeze()
                froze = True
            except CapsaError as err:
                _debug(f"signalling without freezing: {err}")
        try:
            self._signal_each(signal)
        finally:
            if froze or (was_frozen and signal == SIGKILL):
                self.thaw()

    def _signal_each(self, signal: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal)
            except ProcessLookupError:
                continue

    # -- statistics ------------------------------------------------------------------

    def oom_kills(self) -> int | None:
        from capsa.cgroups import memory

        if "memory" in self._v1:
            return memory.oom_kills_v1(self._files, self._v1["memory"])
        if self._unified is not None:
            return memory.oom_kills_v2(self._files, self._unified)
        return None

    def stats(self) -> CgroupStats:
        from capsa.cgroups import cpu, memory, pids
        from capsa.cgroups.stats import CgroupStats

        files, v1, unified = self._files, self._v1, self._unified
        values: dict[str, int | None] = {}
        if "memory" in v1:
            values.update(memory.stats_v1(files, v1["memory"]))
        elif unified is not None:
            values.update(memory.stats_v2(files, unified))
        if "cpuacct" in v1 or "cpu" in v1:
            values.update(cpu.stats_v1(files, v1.get("cpuacct"), v1.get("cpu")))
        elif unified is not None:
            values.update(cpu.stats_v2(files, unified))
        if "pids" in v1:
            values.update(pids.stats(files, v1["pids"]))
        elif unified is not None:
            values.update(pids.stats(files, unified))
        return CgroupStats(**values)
