"""Starting, reloading and stopping the DNS server from capsa's commands (see server.py
for the life cycle). Callers hold the host lock and are in the host's namespace."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from capsa.errors import Unavailable

START_TIMEOUT = 15.0
REPLY_TIMEOUT = 15.0


class DnsControl:
    def __init__(self, run_dir: Path, state: Path, resolv_conf: Path) -> None:
        self.run_dir = run_dir
        self.socket_path = run_dir / "dns.sock"
        self.log_path = run_dir / "dns.log"
        self.state = state
        self.resolv_conf = resolv_conf

    def _ask(self, command: str) -> str | None:
        """The server's one-line answer, or None if no server is running."""
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        client.settimeout(REPLY_TIMEOUT)
        try:
            try:
                client.connect(str(self.socket_path))
            except (FileNotFoundError, ConnectionRefusedError):
                return None
            client.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = client.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise Unavailable(
                f"the DNS server at {self.socket_path} did not answer in {REPLY_TIMEOUT:.0f}s",
                hint=f"see {self.log_path}",
            ) from None
        finally:
            client.close()
        return data.decode(errors="replace").strip()

    def running(self) -> bool:
        return self._ask("ping") == "ok"

    def sync(self, wanted: bool) -> None:
        """Make the server serve what the state says: reload it if it runs (it exits by
        itself when nothing is left), start it if `wanted` and it does not."""
        reply = self._ask("reload")
        if reply is None:
            if wanted:
                self._start()
            else:
                for stale in (self.socket_path, self.socket_path.with_suffix(".pid")):
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()  # a crashed server's
            return
        self._check(reply)

    def _check(self, reply: str) -> None:
        if reply in ("ok", "exit", "ready"):
            return
        raise Unavailable(
            f"the DNS server failed: {reply.removeprefix('error ') or 'no answer'}",
            hint=f"see {self.log_path}",
        )

    def _start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a crashed server's
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "capsa.network.dns",
                    "--state",
                    str(self.state),
                    "--control",
                    str(self.socket_path),
                    "--resolv-conf",
                    str(self.resolv_conf),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        assert process.stdout is not None
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            fd = process.stdout.fileno()
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                readable, _, _ = select.select([fd], [], [], deadline - time.monotonic())
                if not readable:
                    break
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                line += chunk
        finally:
            process.stdout.close()
            process.wait()  # the launcher forks and exits at once
        self._check(line.decode(errors="replace").strip() or "error it exited before it was up")

    def stop(self) -> None:
        """Stop a running server whatever the state says (for `reset`)."""
        reply = self._ask("stop")
        if reply is None:
            return
        deadline = time.monotonic() + 5
        while self.socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
