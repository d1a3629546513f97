"""Foreground `run` and `exec`: forward the signals we receive to the container
process, and turn its wait status into an exit code. (`_signal`, not `signal`: the
wrapper imports enum, and this is on every foreground start.)"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stubs; plain ints
import os

TYPE_CHECKING = False


if TYPE_CHECKING:
    from types import FrameType, TracebackType

FORWARDED = (
    _signal.SIGINT,
    _signal.SIGTERM,
    _signal.SIGHUP,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGCONT,
)


class forward_signals:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def __enter__(self) -> None:
        for sig in FORWARDED:
            self.previous[sig] = _signal.signal(sig, self._handler)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, old in self.previous.items():
            _signal.signal(sig, old)


def wait_for(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
