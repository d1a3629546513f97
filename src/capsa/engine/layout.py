"""Where the engine keeps things, derived from one `Config`.

<root>/storage/                      the image store (capsa.store)
<root>/engine/engine.db              containers, volumes, events (SQLite, WAL)
<root>/engine/containers/<id>/       a container's files that outlive a reboot:
    rootfs/                          where its snapshot is mounted while it runs
    bundle/config.json               the OCI config it last started with
    hosts, hostname, resolv.conf     bound into the container
    ctr.log[.N]                      its json-file log
<root>/volumes/<name>/_data          named and anonymous volumes (Docker's layout)
<run>/containers/<id>/               what dies with the machine: attach socket, locks
<run>/runtime/                       the in-process runtime's state (--root)
<run>/monitor.sock, monitor.pid      the monitor host that supervises every container
<run>/console-<n>.sock               a tty container's terminal, handed over at its start
"""

from __future__ import annotations

import os

from capsa.config import Config
from capsa.paths import command_roots


class Layout:
    __slots__ = ("config", "containers", "db_path", "engine", "root", "run", "volumes")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = os.fspath(config.root)
        self.run = os.fspath(config.run_root)
        self.engine = os.path.join(self.root, "engine")
        self.db_path = os.path.join(self.engine, "engine.db")
        self.containers = os.path.join(self.engine, "containers")
        self.volumes = os.path.join(self.root, "volumes")

    @property
    def storage(self) -> str:
        return os.path.join(self.root, "storage")

    def container_dir(self, container_id: str) -> str:
        return os.path.join(self.containers, container_id)

    def rootfs(self, container_id: str) -> str:
        return os.path.join(self.containers, container_id, "rootfs")

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.containers, container_id, "bundle")

    def log_path(self, container_id: str) -> str:
        return os.path.join(self.containers, container_id, "ctr.log")

    def run_dir(self, container_id: str) -> str:
        return os.path.join(self.run, "containers", container_id)

    def runtime_root(self, runtime: str) -> str:
        """The --root of each OCI runtime: ours, or runc/crun/a path (by its name)."""
        name = "runtime" if runtime == "capsa" else os.path.basename(runtime)
        return os.path.join(self.run, name)

    @property
    def spawner_socket(self) -> str:
        return os.path.join(self.run, "monitor.sock")

    def volume_dir(self, name: str) -> str:
        return os.path.join(self.volumes, name)

    def make_dirs(self) -> None:
        for path in (self.engine, self.containers, self.volumes):
            os.makedirs(path, mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.run, "containers"), mode=0o700, exist_ok=True)


def engine_config(root: str | None = None, run_root: str | None = None) -> Config:
    """The Config for the command line's --root/--runroot, else $CAPSA_ROOT and
    $CAPSA_RUNROOT, else the defaults (see capsa.paths.command_roots)."""
    data, run = command_roots(root, run_root)
    return Config.default(root=data, run_root=run)
