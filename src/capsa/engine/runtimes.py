"""`OCIRuntime`: how the engine drives an OCI runtime. Two implementations with one
behaviour: the in-process `capsa.runtime` (no interpreter start per verb) and any binary
with runc's command line (`--runtime runc|crun|PATH`).

`create` runs in the monitor: the container's stdio is whatever fds 0-2 are when it is
called (pipes the monitor holds), or a terminal whose master comes back over the console
socket. The monitor is the child subreaper, so the container's init becomes its child.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Protocol

from capsa.errors import ContainerError, NotFound, Unavailable

STOPPED = "stopped"


class OCIRuntime(Protocol):
    name: str

    def create(self, container_id: str, bundle: str, *, console_socket: str | None) -> int:
        """Create the container (its init waits for start); returns the init's pid."""
        ...

    def start(self, container_id: str) -> None: ...
    def status(self, container_id: str) -> str | None:
        """created, running, paused, stopped; None when the runtime has no such container."""
        ...

    def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None: ...
    def delete(self, container_id: str, *, force: bool = False) -> None: ...
    def pause(self, container_id: str) -> None: ...
    def resume(self, container_id: str) -> None: ...
    def update(self, container_id: str, resources: dict[str, Any]) -> None: ...
    def pids(self, container_id: str) -> list[int]: ...
    def stats(self, container_id: str) -> dict[str, Any]:
        """runc's `events --stats` document (`data`: cpu, memory, pids)."""
        ...

    def exec(
        self,
        container_id: str,
        process: dict[str, Any],
        *,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
    ) -> int:
        """Run `process` in the container with our stdio (or a terminal through the
        console socket, or a tty relayed to our stdio when process.terminal is set and
        no socket is given); returns its exit code (0 when detached)."""
        ...


class InProcessRuntime:
    """capsa.runtime called directly, with its state under `root`."""

    name = "capsa"

    def __init__(self, root: str) -> None:
        from capsa.runtime.state import StateStore

        self.root = root
        self.store = StateStore(root)

    def create(self, container_id: str, bundle: str, *, console_socket: str | None) -> int:
        from capsa.runtime.create import CreateOptions, create_container

        options = CreateOptions(bundle=bundle, console_socket=console_socket)
        return create_container(self.store, container_id, options).pid

    def start(self, container_id: str) -> None:
        from capsa.runtime.start import start_container

        start_container(self.store, container_id)

    def status(self, container_id: str) -> str | None:
        from capsa.runtime.container import Container

        if not self.store.exists(container_id):
            return None
        try:
            return Container.load(self.store, container_id).status()
        except NotFound:
            return None

    def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        from capsa.runtime.kill import kill_container

        kill_container(self.store, container_id, signal, all_processes=all_processes)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        from capsa.runtime.delete import delete_container

        if self.store.exists(container_id):
            delete_container(self.store, container_id, force=force)

    def pause(self, container_id: str) -> None:
        from capsa.runtime.pause import pause_container

        pause_container(self.store, container_id)

    def resume(self, container_id: str) -> None:
        from capsa.runtime.pause import resume_container

        resume_container(self.store, container_id)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        from capsa.runtime.update import update_container

        update_container(self.store, container_id, resources)

    def pids(self, container_id: str) -> list[int]:
        from capsa.runtime.query import container_pids

        return container_pids(self.store, container_id)

    def stats(self, container_id: str) -> dict[str, Any]:
        from capsa.runtime.events import stats_event

        return stats_event(self.store, container_id)

    def exec(
        self,
        container_id: str,
        process: dict[str, Any],
        *,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
    ) -> int:
        from capsa.runtime.exec import ExecOptions, exec_in_container

        with _process_file(process) as path:
            options = ExecOptions(
                process_file=path,
                tty=bool(process.get("terminal")),
                detach=detach,
                console_socket=console_socket,
                pid_file=pid_file,
            )
            return exec_in_container(self.store, container_id, options)


class ExternalRuntime:
    """A runtime binary with runc's command line; its errors come from its --log."""

    def __init__(self, binary: str, root: str) -> None:
        path = binary if os.sep in binary else shutil.which(binary)
        if not path or not os.access(path, os.X_OK):
            raise Unavailable(
                f"the OCI runtime {binary!r} is not installed",
                hint="install it, give its path to --runtime, or use --runtime capsa",
            )
        self.name = binary
        self.binary = path
        self.root = root

    def _command(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        with tempfile.NamedTemporaryFile(prefix="capsa-runtime-log-") as log:
            command = [self.binary, "--root", self.root, "--log", log.name]
            command += ["--log-format", "json", *args]
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, check=False
            )
            if check and result.returncode != 0:
                raise ContainerError(
                    f"{os.path.basename(self.binary)} {args[0]} failed: "
                    f"{_runtime_error(log.name, result.stderr)}"
                )
        return result

    def create(self, container_id: str, bundle: str, *, console_socket: str | None) -> int:
        pid_file = os.path.join(bundle, "init.pid")
        with tempfile.NamedTemporaryFile(prefix="capsa-runtime-log-") as log:
            command = [self.binary, "--root", self.root, "--log", log.name]
            command += ["--log-format", "json", "create", "--bundle", bundle]
            command += ["--pid-file", pid_file]
            if console_socket:
                command += ["--console-socket", console_socket]
            command.append(container_id)
            # The container's stdio is ours (fds 0-2, set up by the monitor): runc hands
            # its own to the container, so its errors are read from its --log.
            result = subprocess.run(command, check=False)
            if result.returncode != 0:
                raise ContainerError(
                    f"{os.path.basename(self.binary)} create failed: "
                    f"{_runtime_error(log.name, b'')}"
                )
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.unlink(pid_file)
        return pid

    def start(self, container_id: str) -> None:
        self._run("start", container_id)

    def status(self, container_id: str) -> str | None:
        result = self._run("state", container_id, check=False)
        if result.returncode != 0:
            return None
        try:
            status = json.loads(result.stdout).get("status")
        except ValueError:
            return None
        return str(status) if status else None

    def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        self._run("kill", *(["--all"] if all_processes else []), container_id, str(signal))

    def delete(self, container_id: str, *, force: bool = False) -> None:
        if self.status(container_id) is None:
            return
        self._run("delete", *(["--force"] if force else []), container_id)

    def pause(self, container_id: str) -> None:
        self._run("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._run("resume", container_id)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        with _process_file(resources) as path:
            self._run("update", "--resources", path, container_id)

    def pids(self, container_id: str) -> list[int]:
        result = self._run("ps", "--format", "json", container_id)
        return sorted(int(pid) for pid in json.loads(result.stdout or b"[]"))

    def stats(self, container_id: str) -> dict[str, Any]:
        result = self._run("events", "--stats", container_id)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def exec(
        self,
        container_id: str,
        process: dict[str, Any],
        *,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
    ) -> int:
        with _process_file(process) as path:
            command = self._command("exec", "--process", path)
            if detach:
                command.append("--detach")
            if console_socket:
                command += ["--console-socket", console_socket]
            if pid_file:
                command += ["--pid-file", pid_file]
            command.append(container_id)
            return subprocess.run(command, check=False).returncode


class _process_file:
    """A JSON document in a temporary file for the length of a `with`."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.path = ""

    def __enter__(self) -> str:
        fd, self.path = tempfile.mkstemp(prefix="capsa-process-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(self.document, f)
        return self.path

    def __exit__(self, *exc: object) -> None:
        os.unlink(self.path)


def _runtime_error(log_path: str, stderr: bytes) -> str:
    """The last error a runc-like runtime logged (JSON lines), else its stderr."""
    message = ""
    try:
        with open(log_path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal") and entry.get("msg"):
                    message = str(entry["msg"])
    except OSError:
        pass
    if not message:
        lines = stderr.decode(errors="replace").strip().splitlines()
        message = lines[-1] if lines else "no message"
    return message


def open_runtime(name: str, root: str) -> OCIRuntime:
    if name in ("", "capsa"):
        return InProcessRuntime(root)
    return ExternalRuntime(name, root)
