"""The container's root filesystem: everything the init process does to its mount
namespace, as the OCI runtime-spec describes it (config.md Root and Mounts;
config-linux.md Devices, rootfsPropagation, maskedPaths, readonlyPaths) and the way
runc's libcontainer/rootfs_linux.go does it.

Two steps, around what the runtime does in between (sysctls, hostname, console):

    prepare_rootfs(spec, bundle, syscalls, user_namespace=..., cgroup_namespace=...)
    ...
    finalize_rootfs(spec, syscalls)

Decisions where the spec leaves room:
- `linux.rootfsPropagation` unset means rslave, as in runc. Before anything is mounted
  `/` becomes rslave (rprivate if asked), so no mount of ours reaches the host; other
  values are applied to the container's `/` after pivot_root (`shared` thus makes a new
  peer group, not one with the host).
- Relative mount destinations are taken relative to `/` (deprecated but allowed by the
  spec; runc does the same); `..` stops at `/`. A destination that is, or resolves to,
  `/` is refused, and so is one inside /proc other than /proc itself (for a proc
  filesystem) and the files lxcfs emulates.
- A mount of type "bind" is a bind mount even without the `bind` option (crun's reading).
- `tmpcopyup`, `idmap` and `ridmap` are refused with capsa.errors.Unavailable; the
  recursive options (`rro`, `rnosuid`...) are applied with mount_setattr(2).
- `linux.mountLabel` is accepted and ignored (no SELinux support).
- A read-only tmpfs or /dev is mounted read-write and made read-only by finalize_rootfs,
  so later mounts and devices can be created in it (runc does the same).
- Mount points are resolved inside the rootfs (openat2 RESOLVE_IN_ROOT, no magic
  links) and created with mkdirat/openat in the directory just resolved; a symlink to a
  missing path is followed inside the rootfs and its target created there (runc's
  behaviour), never on the host. proc and sysfs refuse a symlink as mount point.
- Devices: mknod, or a bind of the host's node in a user namespace or when mknod is
  refused (EPERM, e.g. by a device cgroup). A different file already at a device's path
  is an error (the spec's MUST). /dev/core -> /proc/kcore only if the host has it (runc).
  With process.terminal an empty /dev/console is made for the runtime to bind a pty on.
- A cgroup v1 tmpfs is remounted read-only when the entry says `ro` (some runc builds
  leave it read-write); the hybrid host's /sys/fs/cgroup/unified is not carried in (runc).
- finalize_rootfs order (runc's): read-only tmpfs and /dev, readonlyPaths, maskedPaths,
  then root.readonly. After pivot_root it checks each path with openat2 and mounts it by
  name, so it works without a /proc in the container.
- A mount namespace is required (the caller made it); pivot_root falls back to
  MS_MOVE + chroot only when `/` is the initramfs or the caller asks (no_pivot).
"""

from __future__ import annotations

import os
from _collections_abc import Mapping  # what collections.abc exports, already loaded

from capsa.errors import field_error
from capsa.kernel.mounts import MS_BIND, MS_PRIVATE, MS_REC, MS_SLAVE
from capsa.runtime.rootfs import cgroup_mounts, devices, masks, mounts, pivot
from capsa.runtime.rootfs.failure import kernel_error
from capsa.runtime.rootfs.spec import parse_final, parse_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.kernel.syscalls.protocol import Syscalls

__all__ = ["finalize_rootfs", "prepare_rootfs"]


def _require_mount_namespace(spec: Mapping[str, Any]) -> None:
    linux = spec.get("linux")
    if type(linux) is dict or isinstance(linux, Mapping):
        namespaces = linux.get("namespaces", [])
        if isinstance(namespaces, list):
            for ns in namespaces:
                if (type(ns) is dict or isinstance(ns, Mapping)) and ns.get("type") == "mount":
                    return
    raise field_error(
        "linux.namespaces",
        "a mount namespace is required to set up the root filesystem",
        hint='add {"type": "mount"}',
    )


def prepare_rootfs(
    spec: Mapping[str, Any],
    bundle: str | os.PathLike[str],
    syscalls: Syscalls,
    *,
    user_namespace: bool,
    cgroup_namespace: bool,
    before_pivot: Callable[[], None] | None = None,
    before_cgroups: Callable[[], None] | None = None,
    no_pivot: bool = False,
) -> None:
    """Mount everything `spec` asks for inside its rootfs, make the devices, and make
    the rootfs the process's `/`. The caller has unshared the mount namespace (and the
    user namespace, if `user_namespace`) and is root in it. `before_pivot` runs after
    the mounts, before pivot_root (where runc runs the createContainer hooks);
    `before_cgroups` once, before the first cgroup mount (or after the mounts, when there
    is none): where the caller joins its cgroups and makes its cgroup namespace. A
    relative `bundle` is taken from the working directory."""
    _require_mount_namespace(spec)
    plan = parse_spec(spec, bundle, syscalls)
    rootfs = plan.rootfs
    propagation = plan.propagation
    try:
        # rslave (runc's default), or rprivate when that is what was asked: either way
        # no mount of ours reaches the host; other requests are applied after pivot_root.
        first = MS_PRIVATE | MS_REC if propagation == MS_PRIVATE | MS_REC else MS_SLAVE | MS_REC
        syscalls.mount(None, "/", None, first, None)
    except OSError as exc:
        raise kernel_error("make / a slave of the host's mounts", exc) from None
    try:
        # pivot_root needs the new root to be a mount point.
        syscalls.mount(rootfs, rootfs, None, MS_BIND | MS_REC, None)
        root_fd = syscalls.open(rootfs, os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        raise kernel_error(f"bind mount the rootfs {rootfs} onto itself", exc) from None
    try:
        try:
            root_real = syscalls.readlink(f"/proc/self/fd/{root_fd}")
        except OSError as exc:
            raise kernel_error(f"resolve the rootfs {rootfs}", exc) from None
        ctx = mounts.RootContext(syscalls, root_fd, root_real, user_namespace, cgroup_namespace)
        dev_bound = False  # a bind mount provides /dev: it is the user's (devices.py)
        for mount in plan.mounts:
            if mount.options.flags & MS_BIND:
                if mount.destination == "/dev":
                    dev_bound = True
                mounts.mount_entry(ctx, mount)
            elif mount.fstype == "cgroup":
                if before_cgroups is not None:
                    before_cgroups()
                    before_cgroups = None
                cgroup_mounts.mount_cgroup(ctx, mount)
            else:
                mounts.mount_entry(ctx, mount)
        if before_cgroups is not None:
            before_cgroups()
        if not dev_bound:
            devices.setup_dev(ctx, plan.devices, plan.terminal)
        if before_pivot is not None:
            before_pivot()
        pivot.enter_root(ctx, rootfs, no_pivot=no_pivot)
        if propagation not in pivot.SET_BEFORE_PIVOT:
            pivot.apply_root_propagation(syscalls, propagation)
    finally:
        syscalls.close(root_fd)


def finalize_rootfs(spec: Mapping[str, Any], syscalls: Syscalls) -> None:
    """After pivot_root (and the runtime's sysctls and hostname): read-only tmpfs and
    /dev mounts, linux.readonlyPaths, linux.maskedPaths, then root.readonly."""
    _require_mount_namespace(spec)
    masks.finalize(syscalls, parse_final(spec))
