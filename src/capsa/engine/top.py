"""`capsa top`: a container's processes as the host's `ps` shows them (Docker's `top`):
the pids come from the container's cgroup through its runtime, `ps` runs with the
user's options (default `-ef`), and only the header and the rows of those pids stay."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capsa.engine.state import PAUSED, RUNNING
from capsa.errors import Conflict, InvalidArgument, Unavailable

if TYPE_CHECKING:
    from capsa.engine.engine import Engine

DEFAULT_PS_ARGS = ("-ef",)


@dataclass(frozen=True)
class ProcessTable:
    titles: list[str]
    processes: list[list[str]]


def parse_ps_output(output: str, pids: Sequence[int]) -> ProcessTable:
    """Docker's parsePSOutput: the header's columns, and the rows whose PID is one of
    `pids`; the last column (the command) keeps its spaces."""
    lines = output.splitlines()
    if not lines:
        raise Unavailable("ps printed nothing", hint="check the host's ps")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument(
            "couldn't find PID field in ps output",
            hint="give ps options whose output has a PID column, e.g. -o pid,comm",
        )
    column = titles.index("PID")
    wanted = set(pids)
    processes = []
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split(None, len(titles) - 1)
        try:
            pid = int(fields[column])
        except (IndexError, ValueError):
            raise Unavailable(f"unexpected pid {fields[column:column + 1]} in ps output") from None
        if pid in wanted:
            processes.append(fields)
    return ProcessTable(titles, processes)


def container_top(
    engine: Engine, text: str, ps_args: Sequence[str] = DEFAULT_PS_ARGS
) -> ProcessTable:
    record = engine.find(text)
    if record.state.status not in (RUNNING, PAUSED):
        raise Conflict(f"container {record.name} is not running", hint=f"capsa start {record.name}")
    pids = engine.runtime(record.state.runtime or record.spec.runtime).pids(record.id)
    try:
        done = subprocess.run(
            ["ps", *(ps_args or DEFAULT_PS_ARGS)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise Unavailable("cannot run ps: it is not installed", hint="install procps") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidArgument(
            f"error running ps {' '.join(ps_args)}: {message[0] if message else done.returncode}",
            hint="see ps --help for its options",
        )
    return parse_ps_output(done.stdout.decode(errors="replace"), pids)
