"""A build step's working container: a writable snapshot on the step's parent layer,
mounted, changed (by a RUN command in a real container, or by COPY/ADD from outside),
then unmounted and handed back for its commit as the step's layer.

RUN runs through the engine's OCI config (Docker's default capabilities, seccomp
profile, masked paths) and the in-process runtime, in a child process whose stdout and
stderr are a pipe the build streams. Mount points the runtime had to create for the
container (/proc, /etc/hosts, secrets, cache mounts…) are removed again before the
commit, so that no layer holds them; nothing of a secret ever reaches the upper
directory (it is a bind mount of a file outside).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capsa.errors import CapsaError
from capsa.kernel.paths import try_open_in_root
from capsa.store.mount import mount_all, unmount_all

if TYPE_CHECKING:
    from capsa.engine.spec import MountSpec
    from capsa.store.store import Lease, Store

Output = Callable[[bytes], None]


class RunFailed(CapsaError):
    """A RUN command exited with a non-zero status."""

    exit_code = 1

    def __init__(self, message: str, *, status: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass
class RunRequest:
    args: list[str]
    env: list[str]
    user: str
    workdir: str
    network: str = "default"  # default (the host's, as buildkitd without CNI), none, host
    mounts: list[MountSpec] = field(default_factory=list)
    hostname: str = "buildkitsandbox"


class WorkingContainer:
    """The snapshot `key` on layer `parent`, mounted at `<workdir>/rootfs` until close()."""

    def __init__(self, store: Store, parent: str | None, work_root: str, lease: Lease) -> None:
        self.store = store
        self.parent = parent
        self.id = f"build-{secrets.token_hex(8)}"
        self.key = f"build-{self.id}"
        self.dir = os.path.join(work_root, self.id)
        self.rootfs = os.path.join(self.dir, "rootfs")
        lease.add_snapshot(self.key)
        os.makedirs(self.rootfs, mode=0o755)
        self._mounted = False
        try:
            mounts = store.snapshotter.prepare(self.key, parent, labels={"capsa.build": self.id})
            mount_all(mounts, self.rootfs)
            self._mounted = True
        except BaseException:
            self.discard()
            raise

    def unmount(self) -> None:
        if self._mounted:
            unmount_all(self.rootfs, detach=True)
            self._mounted = False

    def discard(self) -> None:
        """Throw everything away (a failed or interrupted step)."""
        from capsa.errors import NotFound
        from capsa.store.errors import InUse

        self.unmount()
        with contextlib.suppress(NotFound, InUse):
            self.store.snapshotter.remove(self.key)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cleanup_dir(self) -> None:
        self.unmount()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- RUN --------------------------------------------------------------------------

    def run(self, request: RunRequest, output: Output) -> None:
        """Run the command; RunFailed with its status when it fails."""
        from capsa.engine import etcfiles, ociconfig
        from capsa.engine.prepare import cgroup_v2, make_workdir
        from capsa.engine.security import security_context
        from capsa.engine.spec import ContainerSpec, Networking
        from capsa.engine.users import resolve_in_rootfs
        from capsa.store._files import write_atomic

        mode = "none" if request.network == "none" else "host"
        spec = ContainerSpec(
            image="",
            command=list(request.args),
            entrypoint=[],
            env=list(request.env),
            workdir=request.workdir,
            user=request.user,
            hostname=request.hostname,
            network=Networking(mode=mode),
            mounts=list(request.mounts),
        )
        user = resolve_in_rootfs(self.rootfs, request.user, [])
        make_workdir(self.rootfs, ociconfig.working_dir(spec, {}))
        hostname = ociconfig.hostname_of(spec, self.id)
        etc_dir = os.path.join(self.dir, "etc")
        os.makedirs(etc_dir, mode=0o755, exist_ok=True)
        hosts = etcfiles.hosts_file(spec, hostname or request.hostname, ["127.0.0.1"])
        files = etcfiles.write_etc_files(etc_dir, hostname, hosts, etcfiles.resolv_conf(spec))
        if mode == "host":
            files.pop("/etc/hostname")
        security = security_context(spec, ociconfig.MASKED_PATHS, ociconfig.READONLY_PATHS)
        ctx = ociconfig.StartContext(
            container_id=self.id,
            rootfs=self.rootfs,
            user=user,
            mounts=[ociconfig.ResolvedMount(m, m.source or "tmpfs") for m in request.mounts],
            files=files,
            capabilities=security.capabilities,
            seccomp=security.seccomp,
            no_new_privileges=security.no_new_privileges,
            cgroup_v2=cgroup_v2(),
        )
        config = ociconfig.build_config(spec, {}, ctx)
        stubs = _missing_paths(self.rootfs, [m["destination"] for m in config["mounts"]])
        bundle = os.path.join(self.dir, "bundle")
        os.makedirs(bundle, mode=0o700, exist_ok=True)
        write_atomic(os.path.join(bundle, "config.json"), json.dumps(config).encode(), 0o600)
        try:
            status = _run_in_child(os.path.join(self.dir, "runtime"), self.id, bundle, output)
        finally:
            self.unmount()
            target = self.store.snapshotter.apply_target(self.key)
            _remove_stubs(target.path, stubs, overlay=target.style.value == "overlay")
        if status != 0:
            raise RunFailed(
                f"the command {' '.join(request.args)!r} exited with status {status}",
                status=status,
            )


def _exists_in_root(root_fd: int, path: str) -> bool:
    fd = try_open_in_root(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
    if fd >= 0:
        os.close(fd)
        return True
    return fd != -errno.ENOENT


@dataclass(frozen=True)
class _Stubs:
    """What mounting the container's file systems will make in its root: the missing
    mount points (and missing parents), and the existing directories that get them
    (copied up on overlay, with their ancestors), as they were before."""

    missing: list[str]
    touched: dict[str, tuple[int, int, int]]  # path -> (mode, uid, gid)


def _missing_paths(rootfs: str, destinations: Sequence[str]) -> _Stubs:
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        missing: set[str] = set()
        touched: dict[str, tuple[int, int, int]] = {}
        for destination in destinations:
            path = os.path.normpath("/" + destination)
            while path != "/" and path not in missing and not _exists_in_root(root_fd, path):
                missing.add(path)
                path = os.path.dirname(path)
            if path in missing or path == os.path.normpath("/" + destination):
                continue  # nothing new under an existing path
            while path != "/" and path not in touched:
                fd = try_open_in_root(root_fd, path, os.O_PATH | os.O_NOFOLLOW)
                if fd < 0:
                    break
                try:
                    st = os.fstat(fd)
                finally:
                    os.close(fd)
                touched[path] = (st.st_mode, st.st_uid, st.st_gid)
                path = os.path.dirname(path)
    finally:
        os.close(root_fd)
    return _Stubs(sorted(missing, key=_deepest_first), touched)


def _deepest_first(path: str) -> tuple[int, str]:
    return (-path.count("/"), path)


def _remove_stubs(upper: str, stubs: _Stubs, *, overlay: bool) -> None:
    """Remove the empty files and directories the runtime made as mount points (what a
    command wrote there instead stays: it is the step's change); on overlay, also the
    directories copied up only to hold them, when nothing else in them changed."""
    for stub in stubs.missing:
        path = os.path.join(upper, stub.lstrip("/"))
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            elif os.path.isfile(path) and os.path.getsize(path) == 0:
                os.unlink(path)
        except OSError:
            pass
    if not overlay:
        return
    for directory in sorted(stubs.touched, key=_deepest_first):
        path = os.path.join(upper, directory.lstrip("/"))
        try:
            st = os.lstat(path)
            if (st.st_mode, st.st_uid, st.st_gid) != stubs.touched[directory]:
                continue
            if os.listdir(path) or any(
                name.startswith(b"trusted.overlay.opaque") or name.startswith(b"user.overlay.")
                for name in (n.encode() for n in os.listxattr(path, follow_symlinks=False))
            ):
                continue
            os.rmdir(path)
        except OSError:
            pass


def _run_in_child(runtime_root: str, container_id: str, bundle: str, output: Output) -> int:
    """Create, start and wait for the container in a forked child (it becomes the
    container's reaper), its stdout and stderr a pipe read here; returns the status."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 125
        try:
            os.close(read_end)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            from capsa.runtime.create import CreateOptions
            from capsa.runtime.run import run_container
            from capsa.runtime.state import StateStore

            code = run_container(
                StateStore(runtime_root), container_id, CreateOptions(bundle=bundle), detach=False
            )
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(2, f"capsa build: cannot run the step's container: {exc}\n".encode())
        os._exit(code)
    os.close(write_end)
    try:
        while data := os.read(read_end, 65536):
            output(data)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        _force_delete(runtime_root, container_id, bundle)
        raise
    finally:
        os.close(read_end)
    if os.WIFSIGNALED(status):
        _force_delete(runtime_root, container_id, bundle)
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _force_delete(runtime_root: str, container_id: str, bundle: str) -> None:
    """What an interrupted child left in the runtime (its cgroup, its state). A child
    killed in the middle of its create has saved no state yet: its cgroups are found
    from the bundle's config instead."""
    from capsa.runtime.delete import delete_container
    from capsa.runtime.state import StateStore

    store = StateStore(runtime_root)
    if store.exists(container_id):
        with contextlib.suppress(CapsaError, OSError):
            delete_container(store, container_id, force=True)
    with contextlib.suppress(CapsaError, OSError, ValueError):
        from capsa.runtime import cgroup

        with open(os.path.join(bundle, "config.json"), "rb") as f:
            linux = json.load(f).get("linux", {})
        manager = cgroup.manager_for(linux, container_id, rootless=os.geteuid() != 0)
        if manager.exists():
            cgroup.remove(manager)
    with contextlib.suppress(OSError):
        store.release(container_id)
