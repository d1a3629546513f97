"""Everything a start needs before the runtime's `create`, and its undoing after the
last exit: the root file system mounted, volumes ready (and filled from the image the
first time, as Docker does), /etc files written, the user resolved in the image, and the
OCI config written to the container's bundle."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from dataclasses import replace
from typing import TYPE_CHECKING

from capsa.engine import etcfiles, ociconfig, rootfs
from capsa.engine.db import ContainerRecord
from capsa.engine.ociconfig import ResolvedMount, StartContext
from capsa.engine.security import security_context
from capsa.engine.state import RUNNING
from capsa.engine.users import resolve_in_rootfs
from capsa.errors import Conflict, InvalidArgument, NotFound
from capsa.kernel.paths import try_open_in_root
from capsa.store._files import write_atomic

if TYPE_CHECKING:
    from capsa.engine.engine import Engine
    from capsa.engine.spec import ContainerSpec
    from capsa.network.model import NetworkStatus

INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit")


def find_init_binary() -> str:
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    return ""


def prepare_bundle(
    engine: Engine, record: ContainerRecord, network: NetworkStatus | None = None
) -> str:
    """Set up the container for a start; returns its bundle directory. `network`: what
    its bridge networks gave it (capsa.engine.networking), else None."""
    layout = engine.layout
    spec = record.spec
    container_id = record.id
    target = layout.rootfs(container_id)
    rootfs.mount(engine.store, container_id, target)
    engine.db.update_state(container_id, lambda s: replace(s, rootfs_mounted=True))
    mounts = resolve_mounts(engine, record, target)
    user = resolve_in_rootfs(
        target, spec.user or str(record.image_config.get("User") or ""), spec.security.group_add
    )
    cwd = ociconfig.working_dir(spec, record.image_config)
    make_workdir(target, cwd)
    peers = _peer_namespaces(engine, record)
    hostname = ociconfig.hostname_of(spec, container_id)
    container_dir = layout.container_dir(container_id)
    if network is not None:
        hosts, resolv = _network_etc_files(spec, hostname, network)
    else:
        hosts, resolv = etcfiles.hosts_file(spec, hostname, []), etcfiles.resolv_conf(spec)
    files = etcfiles.write_etc_files(container_dir, hostname, hosts, resolv)
    if spec.network.mode == "host" or spec.uts_mode == "host":
        files.pop("/etc/hostname")
    security = security_context(spec, ociconfig.MASKED_PATHS, ociconfig.READONLY_PATHS)
    ctx = StartContext(
        container_id=container_id,
        rootfs=target,
        user=user,
        mounts=mounts,
        files=files,
        netns=peers.pop("network", "") or (record.state.netns if network is not None else ""),
        peer_namespaces=peers,
        init_binary=find_init_binary() if spec.init else "",
        capabilities=security.capabilities,
        seccomp=security.seccomp,
        no_new_privileges=security.no_new_privileges,
        cgroup_v2=cgroup_v2(),
        apparmor=security.apparmor,
        selinux_label=security.selinux_label,
    )
    if security.masked_paths is not None:
        ctx.masked_paths = security.masked_paths
    if security.readonly_paths is not None:
        ctx.readonly_paths = security.readonly_paths
    config = ociconfig.build_config(spec, record.image_config, ctx)
    bundle = layout.bundle(container_id)
    os.makedirs(bundle, mode=0o700, exist_ok=True)
    write_atomic(
        os.path.join(bundle, "config.json"), json.dumps(config).encode(), 0o600, durable=False
    )
    return bundle


def _network_etc_files(
    spec: ContainerSpec, hostname: str, network: NetworkStatus
) -> tuple[str, str]:
    """/etc/hosts and /etc/resolv.conf on bridge networks: the container's own address,
    and the network's DNS server where it has one."""
    from capsa.network.resolv import hosts_content, resolv_conf_content

    hosts = hosts_content(
        network,
        hostname,
        extra_hosts=[etcfiles.parse_extra_host(entry) for entry in spec.network.extra_hosts],
        domainname=spec.domainname,
    )
    search = [] if spec.network.dns_search == ["."] else spec.network.dns_search
    resolv = resolv_conf_content(
        network, servers=spec.network.dns, search=search, options=spec.network.dns_options
    )
    return hosts, resolv


def cgroup_v2() -> bool:
    from capsa.cgroups import detect_mode

    return str(detect_mode()) == "unified"


def make_workdir(rootfs_dir: str, cwd: str) -> None:
    """Create a missing working directory inside the root, as Docker does; each step
    is resolved in the root, so a symlink in the image cannot lead the mkdir out."""
    root_fd = os.open(rootfs_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path = ""
        for part in [p for p in cwd.split("/") if p]:
            parent, path = path or "/", f"{path}/{part}"
            fd = try_open_in_root(root_fd, path, os.O_PATH | os.O_DIRECTORY)
            if fd >= 0:
                os.close(fd)
                continue
            parent_fd = try_open_in_root(root_fd, parent, os.O_RDONLY | os.O_DIRECTORY)
            if fd != -errno.ENOENT or parent_fd < 0:
                if parent_fd >= 0:
                    os.close(parent_fd)
                raise InvalidArgument(
                    f"cannot use the working directory {cwd}: {os.strerror(-fd)} at {path}"
                )
            try:
                os.mkdir(part, 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass
            finally:
                os.close(parent_fd)
    finally:
        os.close(root_fd)


def resolve_mounts(engine: Engine, record: ContainerRecord, rootfs_dir: str) -> list[ResolvedMount]:
    resolved = []
    for mount in record.spec.mounts:
        if mount.type == "bind":
            source = mount.source
            if not os.path.exists(source):
                if not mount.create_host_path:
                    raise InvalidArgument(
                        f'invalid mount config for type "bind": bind source path does not '
                        f"exist: {source}",
                        hint="create it first, or use -v, which creates a missing directory",
                    )
                os.makedirs(source, mode=0o755, exist_ok=True)
            resolved.append(ResolvedMount(mount, source))
        elif mount.type == "volume":
            volume = engine.volumes.get(mount.source)
            engine.volumes.mount_if_needed(mount.source)
            if not mount.nocopy:
                _copy_up(rootfs_dir, mount.target, volume.mountpoint)
            resolved.append(ResolvedMount(mount, volume.mountpoint))
        elif mount.type == "tmpfs":
            resolved.append(ResolvedMount(mount, "tmpfs"))
        else:
            raise InvalidArgument(f"invalid mount type {mount.type!r}")
    return resolved


def _copy_up(rootfs_dir: str, target: str, volume_dir: str) -> None:
    """Fill an empty volume with what the image has at its mount point."""
    if os.listdir(volume_dir):
        return
    root_fd = os.open(rootfs_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = try_open_in_root(root_fd, target, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(root_fd)
    if fd < 0:
        return
    try:
        # The path it was found at in the root (nothing runs in the container yet to
        # change it); copy_tree refuses to follow the /proc/self/fd link itself.
        source = os.readlink(f"/proc/self/fd/{fd}")
        if not os.listdir(source):
            return
        from capsa.store.copy import copy_tree

        copy_tree(source, volume_dir)
        st = os.fstat(fd)
        os.chown(volume_dir, st.st_uid, st.st_gid)
        os.chmod(volume_dir, st.st_mode & 0o7777)
    finally:
        os.close(fd)


def _peer_namespaces(engine: Engine, record: ContainerRecord) -> dict[str, str]:
    """container:NAME modes: the namespaces of another running container."""
    spec = record.spec
    modes = {
        "network": spec.network.peer if spec.network.mode == "container" else "",
        "pid": spec.pid_mode.removeprefix("container:")
        if spec.pid_mode.startswith("container:")
        else "",
        "ipc": spec.ipc_mode.removeprefix("container:")
        if spec.ipc_mode.startswith("container:")
        else "",
    }
    entries = {"network": "net", "pid": "pid", "ipc": "ipc"}
    paths = {}
    for kind, peer in modes.items():
        if not peer:
            continue
        try:
            other = engine.db.find_container(peer)
        except NotFound:
            raise NotFound(
                f"cannot join the {kind} namespace of container {peer}: no such container"
            ) from None
        state = engine.reconcile(other)
        if state.status != RUNNING or not state.pid:
            raise Conflict(
                f"cannot join the {kind} namespace of container {other.name}: it is not running",
                hint=f"start it first: capsa start {other.name}",
            )
        paths[kind] = f"/proc/{state.pid}/ns/{entries[kind]}"
    return paths


def cleanup_after_exit(engine: Engine, record: ContainerRecord, *, removing: bool = False) -> None:
    """Undo a start's setup once no restart follows: unmount the root and tear down its
    networks; the volumes' own mounts stay (they may be shared). `removing`: the caller
    removes the container next, from a `record` it has just read."""
    from capsa.engine import networking

    rootfs.unmount(engine.layout.rootfs(record.id))
    if removing:  # the caller read the row just now, and deletes it next
        networking.teardown(engine, record, thorough=True)
        return
    with contextlib.suppress(NotFound):
        record = engine.db.container(record.id)  # the namespace it got at setup
    networking.teardown(engine, record)
    with contextlib.suppress(NotFound):
        engine.db.update_state(record.id, lambda s: replace(s, rootfs_mounted=False))


def remove_files(engine: Engine, container_id: str) -> None:
    for path in (engine.layout.container_dir(container_id), engine.layout.run_dir(container_id)):
        rootfs_dir = os.path.join(path, "rootfs")
        if os.path.isdir(rootfs_dir):
            rootfs.unmount(rootfs_dir)
        shutil.rmtree(path, ignore_errors=True)
