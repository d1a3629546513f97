"""The runtime's use of capsa.cgroups: where a container's cgroup goes, and rebuilding
its manager from the paths saved in the state file."""

from __future__ import annotations

import time
from _collections_abc import Mapping  # what collections.abc exports, already loaded

from capsa.cgroups import create_manager, load_manager
from capsa.errors import CapsaError, field_error

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from capsa.cgroups import CgroupManager as Manager

DEFAULT_PARENT = "capsa-runtime"
SIGKILL = 9  # signal's value, without importing it on the start path


def _char(major: int | None, minor: int | None, access: str = "rwm") -> dict[str, Any]:
    return {"allow": True, "type": "c", "major": major, "minor": minor, "access": access}


# Appended after the config's own rules, as runc does: creating any device node
# (access to it is still denied), and the devices every container gets.
DEFAULT_ALLOWED_DEVICES: list[dict[str, Any]] = [
    _char(None, None, "m"),
    {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"},
    _char(1, 3),  # /dev/null
    _char(1, 8),  # /dev/random
    _char(1, 7),  # /dev/full
    _char(5, 0),  # /dev/tty
    _char(1, 5),  # /dev/zero
    _char(1, 9),  # /dev/urandom
    _char(136, None),  # /dev/pts/*
    _char(5, 2),  # /dev/ptmx
    _char(10, 200),  # /dev/net/tun
]


def manager_for(linux: Mapping[str, Any], container_id: str, *, rootless: bool) -> Manager:
    """The manager of the container's cgroups as its config places them (nothing made)."""
    return create_manager(
        linux.get("cgroupsPath") or None,
        container_id,
        default_parent=DEFAULT_PARENT,
        rootless=rootless,
    )


def make(
    manager: Manager, linux: Mapping[str, Any], *, v1: bool = True, unified: bool = True
) -> None:
    """Make the container's cgroup directories, with their device rules once the v1 ones
    exist; limits come with apply_limits. With v1=False the unified hierarchy's alone, for
    a make(unified=False) to follow."""
    manager.create(v1=v1, unified=unified)
    if v1:
        apply_device_rules(manager, linux)


def has_v1(manager: Manager) -> bool:
    """Whether the container's cgroups include v1 hierarchies (v1 or hybrid hosts)."""
    return any(key != "unified" for key in manager.paths())


def apply_device_rules(manager: Manager, linux: Mapping[str, Any]) -> None:
    """Write the device allow list (linux.resources.devices plus the rules every container
    gets) before the init joins the cgroup: on v1 the list is written as "deny all" then
    one allow at a time, and a process inside during those writes would be refused a
    device it is allowed (its /dev/ptmx, say) while it builds the container."""
    paths = manager.paths()
    if "devices" in paths or "unified" in paths:
        # Only where a device controller is ours to program (not for a rootless caller
        # that could not create one): the defaults are not something the user asked for.
        devices = list(_resources(linux).get("devices") or [])
        manager.apply({"devices": devices + DEFAULT_ALLOWED_DEVICES})


def apply_limits(manager: Manager, linux: Mapping[str, Any]) -> None:
    """Write every other field of linux.resources (the limits): these can be written
    while the init builds the container, which runs nothing of the user's before READY."""
    limits = {key: value for key, value in _resources(linux).items() if key != "devices"}
    manager.apply(limits)


def _resources(linux: Mapping[str, Any]) -> Mapping[str, Any]:
    resources = linux.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise field_error("linux.resources", "must be an object")
    return resources


def load(paths: Mapping[str, str]) -> Manager:
    if not paths:
        return NoCgroup()  # type: ignore[return-value]
    return load_manager(dict(paths))


class NoCgroup:
    """A container that got no cgroup (a rootless caller that may not create one): no
    limits, no freezer, no stats; its processes are tracked through its init alone."""

    def create(self, *, v1: bool = True, unified: bool = True) -> None:
        pass

    def apply(self, resources: Mapping[str, Any] | None) -> None:
        if resources:
            from capsa.errors import PermissionDenied

            raise PermissionDenied("cannot apply linux.resources: the container has no cgroup")

    update = apply

    def add_process(self, pid: int, *, v1: bool = True) -> None:
        pass

    def enter_v1(self) -> None:
        pass

    def pids(self) -> list[int]:
        return []

    def _unavailable(self, what: str) -> Any:
        from capsa.errors import Unavailable

        raise Unavailable(f"cannot {what}: the container has no cgroup (rootless, no delegation)")

    def freeze(self) -> None:
        self._unavailable("pause the container")

    def thaw(self) -> None:
        self._unavailable("resume the container")

    def is_frozen(self) -> bool:
        return False

    def stats(self) -> Any:
        return self._unavailable("read resource usage")

    def kill_all(self, signal: int = 9) -> None:
        pass

    def destroy(self) -> None:
        pass

    def exists(self) -> bool:
        return False

    def paths(self) -> dict[str, str]:
        return {}


def remove(manager: Manager) -> None:
    """Kill what is left in the container's cgroups, wait for them to empty, remove them."""
    try:
        manager.kill_all(SIGKILL)
    except (OSError, CapsaError):
        pass  # a half-made one (a failed create): what is there still goes
    wait_empty(manager)
    manager.destroy()


def wait_empty(manager: Manager, timeout: float = 5.0) -> bool:
    """Wait until no process is left in the cgroup (after a SIGKILL to all of them)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while manager.pids():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
