"""Container state under the runtime's --root: one directory per container holding
state.json (written atomically) and the exec fifo, guarded by a lock file so concurrent
invocations of the runtime do not trample each other.

Plain classes and os.path rather than dataclasses and pathlib: this module is on the
path of every container start, where each import costs."""

from __future__ import annotations

import fcntl
import os

from capsa import fastjson as json
from capsa.errors import AlreadyExists, NotFound
from capsa.oci.runtime_config import validate_container_id

TYPE_CHECKING = False

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
EXEC_FIFO = "exec.fifo"


class ContainerState:
    """What the runtime remembers about one container between invocations."""

    FIELDS = (
        "id",
        "bundle",
        "rootfs",
        "pid",
        "pid_start_time",
        "created",
        "owner",
        "annotations",
        "cgroup_paths",
        "namespace_paths",
        "rootless",
        "started",
    )

    def __init__(
        self,
        id: str,
        bundle: str,
        rootfs: str,
        pid: int,
        pid_start_time: int,
        created: str,
        owner: str,
        annotations: dict[str, str] | None = None,
        cgroup_paths: dict[str, str] | None = None,
        namespace_paths: dict[str, str] | None = None,
        rootless: bool = False,
        started: bool = False,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.pid = pid
        # Start time of the init (field 22 of /proc/PID/stat), to detect PID reuse.
        self.pid_start_time = pid_start_time
        self.created = created
        self.owner = owner
        self.annotations = annotations or {}
        self.cgroup_paths = cgroup_paths or {}
        self.namespace_paths = namespace_paths or {}
        self.rootless = rootless
        # Whether `start` released the init: StateStore.load tells it from the exec fifo,
        # which `start` removes then (not stored again: one file fewer to write a start;
        # on this kind of disk each new file costs ~0.2 ms). `stopped` is computed too.
        self.started = started

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerState:
        return cls(**{key: value for key, value in data.items() if key in cls.FIELDS})


def write_atomically(path: str, data: bytes, mode: int = 0o600, *, durable: bool = False) -> None:
    """Write to a temporary file beside path and rename: readers see old or new, never
    half. Runtime state lives in /run and dies with the containers at reboot, so it is not
    fsync'd unless `durable` (as runc)."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    os.close(fd)
    os.rename(temporary, path)


def _remove_tree(path: str) -> None:
    try:
        entries = os.scandir(path)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


class StateStore:
    """The directory given by the runtime's --root."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)

    def container_dir(self, container_id: str) -> str:
        validate_container_id(container_id)
        return os.path.join(self.root, container_id)

    def reserve(self, container_id: str) -> str:
        """Create the container's directory; fail if the ID is taken."""
        directory = self.container_dir(container_id)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise AlreadyExists(f"container {container_id!r} already exists") from None
        return directory

    def release(self, container_id: str) -> None:
        _remove_tree(self.container_dir(container_id))

    def exists(self, container_id: str) -> bool:
        return os.path.exists(os.path.join(self.container_dir(container_id), STATE_FILE))

    def save(self, state: ContainerState) -> None:
        path = os.path.join(self.container_dir(state.id), STATE_FILE)
        write_atomically(path, json.dumps(state.to_json()).encode())

    def _read(self, container_id: str, name: str) -> dict[str, Any]:
        path = os.path.join(self.container_dir(container_id), name)
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"container {container_id!r} does not exist") from None
        assert isinstance(data, dict)
        return data

    def load(self, container_id: str) -> ContainerState:
        state = ContainerState.from_json(self._read(container_id, STATE_FILE))
        if not state.started and not os.path.lexists(self.exec_fifo(container_id)):
            state.started = True
        return state

    def save_config(
        self, container_id: str, config: dict[str, Any], raw: bytes | None = None
    ) -> None:
        """Keep the config as it was at create time: later edits must not affect us.
        `raw`: the config's JSON as read, saved as it is (no second encoding)."""
        path = os.path.join(self.container_dir(container_id), CONFIG_FILE)
        write_atomically(path, raw if raw is not None else json.dumps(config).encode())

    def load_config(self, container_id: str) -> dict[str, Any]:
        return self._read(container_id, CONFIG_FILE)

    def ids(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.exists(os.path.join(self.root, n, STATE_FILE))]

    def exec_fifo(self, container_id: str) -> str:
        return os.path.join(self.container_dir(container_id), EXEC_FIFO)

    def locked(self, container_id: str) -> _Lock:
        """An exclusive lock on one container for the length of an operation."""
        return _Lock(self.container_dir(container_id), container_id)


class _Lock:
    """flock on the container's directory (no lock file: one file fewer to create a
    container), a class, not contextlib (import cost)."""

    def __init__(self, path: str, container_id: str) -> None:
        self.path = path
        self.container_id = container_id
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"container {self.container_id!r} does not exist") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        os.close(self.fd)
