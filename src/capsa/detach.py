"""Starting a background service process: double-forked, in a session of its own (so it
is nobody's child and no terminal's), stdin and stdout on /dev/null, stderr appended to
its log. The monitor host and the command server start this way, on demand."""

from __future__ import annotations

import os


def start_detached(argv: list[str], log: str, env: dict[str, str] | None = None) -> None:
    """Exec `argv` detached; returns once the intermediate child has gone."""
    first = os.fork()
    if first == 0:  # pragma: no cover - the intermediate child
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(out, 2)
                os.closerange(3, 1 << 16)
                if env is None:
                    os.execv(argv[0], argv)
                os.execve(argv[0], argv, env)
        finally:
            os._exit(0)
    os.waitpid(first, 0)
