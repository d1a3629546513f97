"""Container logs in Docker's json-file format, one JSON object a line:

    {"log":"hello\\n","stream":"stdout","time":"2026-12-06T11:46:01.123456789Z"}

with rotation by size (`max-size`, `max-file`: ctr.log, ctr.log.1, …, oldest last), and
the reader `capsa logs` uses (since/until/tail/follow across rotations)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from capsa.times import parse_rfc3339_ns, rfc3339_nano

MAX_LINE = 16 * 1024  # Docker splits longer lines into several entries


class JsonFileWriter:
    """Appends entries; rotates when the file reaches max_size (0: never)."""

    def __init__(self, path: str, max_size: int = 0, max_files: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.partial: dict[str, bytes] = {}
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, data: bytes) -> None:
        """Log `data` read from `stream`; a line without its newline waits for the rest
        (up to MAX_LINE)."""
        data = self.partial.pop(stream, b"") + data
        now = rfc3339_nano()
        out = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            out.append(self._entry(stream, data[start : end + 1], now))
            start = end + 1
        rest = data[start:]
        while len(rest) >= MAX_LINE:
            out.append(self._entry(stream, rest[:MAX_LINE], now))
            rest = rest[MAX_LINE:]
        if rest:
            self.partial[stream] = rest
        if out:
            self._append(out)

    def flush(self) -> None:
        """Write lines still waiting for their newline (at exit)."""
        now = rfc3339_nano()
        pending = [self._entry(s, d, now) for s, d in self.partial.items() if d]
        self.partial.clear()
        if pending:
            self._append(pending)

    @staticmethod
    def _entry(stream: str, line: bytes, now: str) -> bytes:
        text = line.decode("utf-8", errors="replace")
        return (json.dumps({"log": text, "stream": stream, "time": now}) + "\n").encode()

    def _append(self, entries: list[bytes]) -> None:
        """Write whole entries, as few writes as the size limit allows: a file never
        grows past max_size unless one entry alone is larger."""
        batch: list[bytes] = []
        batch_size = 0
        for entry in entries:
            if self.max_size and self.size + batch_size + len(entry) > self.max_size:
                self._write(b"".join(batch))
                batch, batch_size = [], 0
                if self.size:
                    self._rotate()
            batch.append(entry)
            batch_size += len(entry)
        self._write(b"".join(batch))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def _rotate(self) -> None:
        os.close(self.fd)
        if self.max_files == 1:
            os.truncate(self.path, 0)
        else:
            for index in range(self.max_files - 1, 0, -1):
                older = f"{self.path}.{index}"
                newer = self.path if index == 1 else f"{self.path}.{index - 1}"
                if os.path.exists(newer):
                    os.replace(newer, older)
        self.fd = self._open()
        self.size = 0

    def close(self) -> None:
        self.flush()
        os.close(self.fd)


@dataclass(frozen=True)
class LogEntry:
    stream: str
    time_ns: int
    time: str
    data: bytes


def _parse(line: bytes) -> LogEntry | None:
    try:
        entry = json.loads(line)
        stamp = str(entry["time"])
        return LogEntry(
            str(entry.get("stream", "stdout")),
            parse_rfc3339_ns(stamp),
            stamp,
            str(entry.get("log", "")).encode("utf-8", errors="surrogateescape"),
        )
    except (ValueError, KeyError, TypeError):
        return None  # a torn last line of a killed writer, or not ours


def log_files(path: str) -> list[str]:
    """The log's files, oldest first."""
    rotated = []
    index = 1
    while os.path.exists(f"{path}.{index}"):
        rotated.append(f"{path}.{index}")
        index += 1
    return [*reversed(rotated), *([path] if os.path.exists(path) else [])]


def _lines(f: BinaryIO, buffer: bytearray) -> Iterator[bytes]:
    """Complete lines from what f has now; a torn last line waits in buffer."""
    while True:
        data = f.read(1 << 16)
        if not data:
            return
        buffer += data
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            yield line


def _entries(f: BinaryIO, buffer: bytearray) -> Iterator[LogEntry]:
    for line in _lines(f, buffer):
        entry = _parse(line)
        if entry is not None:
            yield entry


def read_entries(
    path: str,
    *,
    since_ns: int = 0,
    until_ns: int = 0,
    tail: int = -1,
    follow: bool = False,
    running: Callable[[], bool] | None = None,
    poll: float = 0.05,
) -> Iterator[LogEntry]:
    """The entries between since and until (ns, 0: no bound), the last `tail` of them
    (-1: all); with `follow`, then new ones as they come, across rotations, until
    `running()` says the writer is gone."""

    def wanted(entry: LogEntry) -> bool:
        return not (since_ns and entry.time_ns < since_ns)

    # The live file is opened first, so nothing written meanwhile is missed or doubled.
    try:
        live: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - kept open to follow
    except FileNotFoundError:
        live = None
    try:
        backlog: list[LogEntry] = []
        buffer = bytearray()
        for name in log_files(path)[:-1] if live is not None else log_files(path):
            try:
                with open(name, "rb") as f:
                    old = bytearray()
                    backlog.extend(e for e in _entries(f, old) if wanted(e))
            except FileNotFoundError:
                continue
        if live is not None:
            backlog.extend(e for e in _entries(live, buffer) if wanted(e))
        if until_ns:
            backlog = [e for e in backlog if e.time_ns <= until_ns]
        if tail >= 0:
            backlog = backlog[-tail:] if tail else []
        yield from backlog
        if not follow:
            return
        while True:
            if live is None:
                try:
                    live = open(path, "rb")  # noqa: SIM115
                except FileNotFoundError:
                    live = None
            got = False
            if live is not None:
                for line in _lines(live, buffer):
                    entry = _parse(line)
                    if entry is None:
                        continue
                    if until_ns and entry.time_ns > until_ns:
                        return
                    got = True
                    yield entry
                try:
                    rotated = os.stat(path).st_ino != os.fstat(live.fileno()).st_ino
                except FileNotFoundError:
                    rotated = True
                if rotated:
                    live.close()
                    live = None
                    buffer.clear()
                    continue
            if not got:
                if running is not None and not running():
                    if live is not None:
                        for line in _lines(live, buffer):
                            entry = _parse(line)
                            if entry is not None:
                                yield entry
                    return
                time.sleep(poll)
    finally:
        if live is not None:
            live.close()
