"""`Engine`: containers from images, and their lifecycle, on the shared on-disk state of
one capsa root. Every `capsa` process opens its own Engine; a container's monitor (see
capsa.engine.hooks) opens one too. Nothing here holds state between calls that the
database does not also hold."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from capsa.config import Config
from capsa.engine.db import ContainerRecord, EngineDB
from capsa.engine.layout import Layout
from capsa.engine.names import random_name, validate_name
from capsa.engine.runtimes import OCIRuntime, open_runtime
from capsa.engine.spawner import wait_started
from capsa.engine.spec import RESTART_POLICIES, ContainerSpec, MountSpec
from capsa.engine.state import (
    CREATED,
    EXITED,
    PAUSED,
    RESTARTING,
    RUNNING,
    ContainerState,
)
from capsa.engine.volumes import Volumes
from capsa.errors import CapsaError, Conflict, InvalidArgument, NotFound, Timeout
from capsa.runtime.procinfo import is_alive
from capsa.store._files import FileLock

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from capsa.store.store import Store

SIGKILL = 9
DEFAULT_STOP_TIMEOUT = 10
MONITOR_DIED = 255  # the exit code recorded when nobody saw the container exit


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def now_rfc3339() -> str:
    from capsa.times import rfc3339_nano

    return rfc3339_nano()


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.layout = Layout(config)
        self.layout.make_dirs()
        self.db = EngineDB(self.layout.db_path)
        self._store: Store | None = None
        self.volumes = Volumes(self.layout, self.db)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self.db.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            from capsa.store.store import Store

            self._store = Store(self.layout.storage)
        return self._store

    def runtime(self, name: str) -> OCIRuntime:
        return open_runtime(name, self.layout.runtime_root(name or "capsa"))

    def lock(self, container_id: str) -> FileLock:
        """Serialises start, stop and removal of one container across processes."""
        os.makedirs(self.layout.run_dir(container_id), mode=0o700, exist_ok=True)
        return FileLock(os.path.join(self.layout.run_dir(container_id), "lock"))

    # -- create -------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> ContainerRecord:
        """A new container of spec.image, not started (Docker's `create`)."""
        from capsa.engine import networking, prepare, rootfs
        from capsa.engine.security import inline_seccomp_profile, security_context

        _validate(spec)
        spec.security.security_opt = inline_seccomp_profile(spec.security.security_opt)
        security_context(spec)  # a bad capability or profile fails now, not at start
        networking.validate(self.config, spec)
        from capsa.transport.store.find import find_image

        try:
            image, _ = find_image(self.store.metadata, spec.image)
        except NotFound:
            raise NotFound(
                f"no such image: {spec.image}",
                hint="capsa load or capsa pull it first (capsa image default gives busybox)",
            ) from None
        image_config = _image_container_config(self.store, image.id)
        self.runtime(spec.runtime)  # an unknown runtime fails now, not at start
        container_id = secrets.token_hex(32)
        spec = replace(spec, mounts=list(spec.mounts))
        self._add_volumes_from(spec)
        self._add_image_volumes(spec, image_config)
        self._create_named_volumes(spec)
        name = spec.name
        rootfs.prepare(self.store, container_id, image.top_layer)
        try:
            os.makedirs(self.layout.container_dir(container_id), mode=0o700)
            for _ in range(10):
                chosen = name or random_name()
                record = ContainerRecord(
                    id=container_id,
                    name=chosen,
                    created_ns=time.time_ns(),
                    image_id=image.id,
                    image_name=spec.image,
                    spec=replace(spec, name=chosen),
                    image_config=image_config,
                    state=ContainerState(),
                )
                try:
                    self.db.add_container(record)
                    break
                except CapsaError:
                    if name:
                        raise
            else:
                raise Conflict("could not find a free random container name; give --name")
        except BaseException:
            rootfs.remove(self.store, container_id)
            prepare.remove_files(self, container_id)
            raise
        self.event("container", "create", record, image=spec.image)
        return record

    def _add_volumes_from(self, spec: ContainerSpec) -> None:
        """--volumes-from NAME[:ro|rw]: that container's volumes and binds, at the same
        places, unless this container mounts something there itself."""
        taken = {os.path.normpath(m.target) for m in spec.mounts}
        for entry in spec.volumes_from:
            name, _, mode = entry.partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidArgument(f"invalid --volumes-from {entry!r}", hint="NAME[:ro|rw]")
            try:
                other = self.db.find_container(name)
            except NotFound:
                raise NotFound(f"--volumes-from {name}: no such container") from None
            for mount in other.spec.mounts:
                target = os.path.normpath(mount.target)
                if mount.type not in ("volume", "bind") or target in taken:
                    continue
                readonly = mount.readonly if not mode else mode == "ro"
                spec.mounts.append(replace(mount, readonly=readonly))
                taken.add(target)

    def _add_image_volumes(self, spec: ContainerSpec, image_config: dict[str, Any]) -> None:
        """An anonymous volume for each VOLUME of the image no mount covers."""
        taken = {os.path.normpath(m.target) for m in spec.mounts}
        for target in image_config.get("Volumes") or {}:
            if os.path.normpath(target) in taken:
                continue
            volume = self.volumes.create(anonymous=True)
            spec.mounts.append(MountSpec("volume", os.path.normpath(target), volume.record.name))

    def _create_named_volumes(self, spec: ContainerSpec) -> None:
        for index, mount in enumerate(spec.mounts):
            if mount.type != "volume":
                continue
            if not mount.source:
                volume = self.volumes.create(anonymous=True)
                spec.mounts[index] = replace(mount, source=volume.record.name)
            else:
                try:
                    self.volumes.get(mount.source)
                except NotFound:
                    self.volumes.create(
                        mount.source,
                        driver=mount.volume_driver or "local",
                        labels=mount.volume_labels,
                        options=mount.volume_options,
                    )

    # -- state --------------------------------------------------------------------------

    def find(self, text: str) -> ContainerRecord:
        record = self.db.find_container(text)
        record.state = self.reconcile(record)
        return record

    def containers(self) -> list[ContainerRecord]:
        records = self.db.containers()
        for record in records:
            record.state = self.reconcile(record)
        return sorted(records, key=lambda r: r.created_ns, reverse=True)

    def reconcile(self, record: ContainerRecord) -> ContainerState:
        """The state as it truly is: a monitor that died (SIGKILL, a reboot) cannot have
        written the exit it did not see, so work it out from the processes."""
        state = record.state
        if state.status not in (RUNNING, PAUSED, RESTARTING) and not (
            state.status == CREATED and state.monitor_pid
        ):
            return state
        same_boot = not state.boot_id or state.boot_id == boot_id()
        monitor = same_boot and is_alive(state.monitor_pid, state.monitor_start)
        if monitor:
            return state
        init = same_boot and state.pid > 0 and is_alive(state.pid, state.pid_start)
        if init:
            return state  # unsupervised, but running: stop/rm still work

        def mark_exited(current: ContainerState) -> ContainerState | None:
            if current.monitor_pid != state.monitor_pid or current.status != state.status:
                return None  # someone else moved it on meanwhile
            return replace(
                current,
                status=EXITED if current.status != CREATED else CREATED,
                exit_code=MONITOR_DIED if current.status != CREATED else 0,
                error="the container's monitor exited without recording its end"
                if current.status != CREATED
                else current.error,
                finished_at=current.finished_at or now_rfc3339(),
                pid=0,
                monitor_pid=0,
            )

        try:
            return self.db.update_state(record.id, mark_exited)
        except NotFound:
            return state

    # -- start --------------------------------------------------------------------------

    def start(self, text: str, *, attach: dict[str, bool] | None = None) -> socket.socket | None:
        """Start a container under a new monitor. With `attach`, returns the connection
        to the monitor, attached from before the container's first output; else waits
        until it started."""
        from capsa.engine import spawner
        from capsa.monitor import attach as protocol

        record = self.find(text)
        with self.lock(record.id):
            state = self.reconcile(self.db.container(record.id))
            if state.status in (RUNNING, PAUSED, RESTARTING):
                if attach is None:
                    return None  # Docker: starting a running container does nothing
                raise Conflict(f"container {record.name} is already running")
            if state.status == CREATED and state.monitor_pid:
                raise Conflict(f"container {record.name} is being started")
            self.db.update_state(record.id, _starting)
            try:
                # Docker's StdinOnce: an attached stdin that ends closes the container's.
                stdin_once = bool(attach and attach.get("stdin"))
                connection = spawner.request_monitor(self.layout, record.id, stdin_once=stdin_once)
            except BaseException:
                self.db.update_state(record.id, _not_starting)
                raise
        if attach is not None:
            connection.sendall(protocol.control({"attach": attach}))
            return connection
        try:
            wait_started(connection, record.name)
        finally:
            connection.close()
        return None

    # -- stop, kill ---------------------------------------------------------------------

    def stop(self, text: str, timeout: int | None = None) -> ContainerRecord:
        """The stop signal, then SIGKILL after `timeout` seconds (-1: wait for ever);
        no restart policy brings it back."""
        record = self.find(text)
        if not record.state.active:
            return record
        self.db.update_state(record.id, lambda s: replace(s, stop_requested=True))
        if timeout is None:
            timeout = record.spec.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
        from capsa.engine.ociconfig import stop_signal
        from capsa.runtime.kill import parse_signal

        if record.state.status in (RUNNING, PAUSED):
            self._signal(record, parse_signal(stop_signal(record.spec, record.image_config)))
            if record.state.status == PAUSED:
                self._resume_quietly(record)
            if self._wait_inactive(record.id, float("inf") if timeout < 0 else float(timeout)):
                return self.find(record.id)
        elif self._wait_inactive(record.id, 5.0):  # restarting: the monitor gives up
            return self.find(record.id)
        self._signal(record, SIGKILL, all_processes=True)
        if not self._wait_inactive(record.id, 30.0):
            raise Timeout(f"container {record.name} did not stop after SIGKILL")
        return self.find(record.id)

    def kill(self, text: str, signal: int) -> None:
        record = self.find(text)
        if record.state.status not in (RUNNING, PAUSED):
            raise Conflict(
                f"cannot kill container {record.name}: it is not running",
                hint="see capsa ps -a",
            )
        self.db.update_state(record.id, lambda s: replace(s, stop_requested=True))
        self._signal(record, signal)

    def _signal(self, record: ContainerRecord, signal: int, *, all_processes: bool = False) -> None:
        runtime = self.runtime(record.state.runtime or record.spec.runtime)
        try:
            runtime.kill(record.id, signal, all_processes=all_processes)
        except (Conflict, NotFound):
            pass  # it stopped meanwhile
        except CapsaError:
            if all_processes:
                raise

    def _resume_quietly(self, record: ContainerRecord) -> None:
        with contextlib.suppress(CapsaError, OSError):
            self.runtime(record.state.runtime or record.spec.runtime).resume(record.id)

    def _wait_inactive(self, container_id: str, timeout: float) -> bool:
        """Wait until the container is neither running nor restarting, and its monitor
        is done with it; False on timeout."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            record = self.db.container(container_id)
            state = self.reconcile(record)
            if not state.active and not (
                state.monitor_pid and is_alive(state.monitor_pid, state.monitor_start)
            ):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def wait(self, text: str, condition: str = "not-running") -> int:
        """Docker's wait: block until the container is not running, or has exited once
        more (`next-exit`), or is gone (`removed`); returns its exit code."""
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(
                f"invalid wait condition {condition!r}", hint="not-running, next-exit or removed"
            )
        record = self.find(text)
        finished_before = record.state.finished_at
        code = record.state.exit_code
        delay = 0.002
        while True:
            try:
                state = self.reconcile(self.db.container(record.id))
            except NotFound:
                return code  # removed (an auto-removed container included)
            code = state.exit_code
            stopped = state.status == EXITED or (state.status == CREATED and not state.monitor_pid)
            if condition == "not-running" and stopped:
                return code
            if condition == "next-exit" and state.finished_at != finished_before:
                return code
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- pause --------------------------------------------------------------------------

    def pause(self, text: str) -> None:
        record = self.find(text)
        if record.state.status != RUNNING:
            raise Conflict(f"cannot pause container {record.name}: it is not running")
        self.runtime(record.state.runtime or record.spec.runtime).pause(record.id)
        self.db.update_state(record.id, lambda s: replace(s, status=PAUSED))
        self.event("container", "pause", record)

    def unpause(self, text: str) -> None:
        record = self.find(text)
        if record.state.status != PAUSED:
            raise Conflict(f"cannot unpause container {record.name}: it is not paused")
        self.runtime(record.state.runtime or record.spec.runtime).resume(record.id)
        self.db.update_state(
            record.id, lambda s: replace(s, status=RUNNING) if s.status == PAUSED else None
        )
        self.event("container", "unpause", record)

    # -- remove -------------------------------------------------------------------------

    def remove(self, text: str, *, force: bool = False, volumes: bool = False) -> ContainerRecord:
        record = self.find(text)
        if record.state.active or (record.state.status == CREATED and record.state.monitor_pid):
            if not force:
                raise Conflict(
                    f"cannot remove container {record.name}: it is {record.state.status}",
                    hint="stop it first, or use rm -f",
                )
            self.db.update_state(record.id, lambda s: replace(s, stop_requested=True))
            self._signal(record, SIGKILL, all_processes=True)
            self._wait_inactive(record.id, 30.0)
        with self.lock(record.id):
            self.destroy(record.id, volumes=volumes)
        return record

    def destroy(
        self, container_id: str, *, volumes: bool = False, record: ContainerRecord | None = None
    ) -> None:
        """Remove every trace of a stopped container: runtime state, mounts, snapshot,
        files, database row; anonymous volumes too with `volumes`. Idempotent. `record`:
        the container's row as just read, if the caller has it."""
        from capsa.engine import prepare, rootfs

        if record is None:
            try:
                record = self.db.container(container_id)
            except NotFound:
                return
        for name in {record.state.runtime or record.spec.runtime, record.spec.runtime}:
            with contextlib.suppress(CapsaError, OSError):
                self.runtime(name).delete(container_id, force=True)
        prepare.cleanup_after_exit(self, record, removing=True)
        rootfs.remove(self.store, container_id)
        prepare.remove_files(self, container_id)
        self.db.remove_container(container_id)
        if volumes:
            for mount in record.spec.mounts:
                if mount.type == "volume" and mount.source:
                    with contextlib.suppress(CapsaError):
                        volume = self.volumes.get(mount.source)
                        if volume.record.anonymous:
                            self.volumes.remove(mount.source)
        self.event("container", "destroy", record)

    def rename(self, text: str, name: str) -> None:
        record = self.find(text)
        self.db.rename_container(record.id, validate_name(name))
        self.event("container", "rename", record, oldName=record.name, name=name)

    # -- events -------------------------------------------------------------------------

    def event(self, type_: str, action: str, record: ContainerRecord, **extra: str) -> None:
        attributes = {"name": record.name, "image": record.image_name}
        attributes.update(record.spec.labels)
        attributes.update(extra)
        with contextlib.suppress(CapsaError):
            self.db.add_event(type_, action, record.id, attributes)


def _starting(state: ContainerState) -> ContainerState:
    return replace(
        state,
        status=CREATED,
        stop_requested=False,
        error="",
        monitor_pid=-1,  # being spawned: not startable twice
        monitor_start=0,
    )


def _not_starting(state: ContainerState) -> ContainerState:
    return replace(state, monitor_pid=0)


def _image_container_config(store: Store, image_id: str) -> dict[str, Any]:
    from capsa.oci.canonical import load_json

    document = load_json(store.content.read_verified(image_id, max_size=16 << 20), "image config")
    config = document.get("config") if isinstance(document, dict) else None
    return dict(config) if isinstance(config, dict) else {}


def _validate(spec: ContainerSpec) -> None:
    if spec.name:
        validate_name(spec.name)
    if spec.restart.name not in RESTART_POLICIES:
        raise InvalidArgument(
            f"invalid restart policy {spec.restart.name!r}",
            hint="no, on-failure[:N], always or unless-stopped",
        )
    if spec.restart.name != "on-failure" and spec.restart.max_retries:
        raise InvalidArgument("only the on-failure restart policy takes a maximum retry count")
    if spec.auto_remove and spec.restart.name != "no":
        raise Conflict("--restart and --rm cannot be used together")
    for mount in spec.mounts:
        if not os.path.isabs(mount.target):
            raise InvalidArgument(
                f"invalid mount destination {mount.target!r}: it must be an absolute path"
            )
        if os.path.normpath(mount.target) == "/":
            raise InvalidArgument("invalid mount destination '/': the root cannot be a mount")
        if mount.type == "bind" and not os.path.isabs(mount.source):
            raise InvalidArgument(
                f"invalid bind mount source {mount.source!r}: it must be an absolute path"
            )
    targets = [os.path.normpath(m.target) for m in spec.mounts]
    duplicates = {t for t in targets if targets.count(t) > 1}
    if duplicates:
        raise InvalidArgument(f"duplicate mount point: {sorted(duplicates)[0]}")
    if spec.log_driver not in ("json-file", "none", "k8s-file"):
        raise InvalidArgument(f"unknown log driver {spec.log_driver!r}", hint="json-file or none")


def mark_starting(
    engine: Engine,
    container_id: str,
    then: Callable[[ContainerState], ContainerState] | None = None,
) -> ContainerState:
    """A new container about to get its first monitor (capsa run through the spawner);
    `then` changes the state further in the same write."""
    with engine.lock(container_id):
        return engine.db.update_state(
            container_id, _starting if then is None else lambda s: then(_starting(s))
        )
