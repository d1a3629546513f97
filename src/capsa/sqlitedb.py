"""One SQLite database shared by many processes: WAL, a short busy timeout and a retry
loop with backoff, `BEGIN IMMEDIATE` write transactions, versioned migrations."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from capsa.errors import Unavailable

BUSY_TIMEOUT = 1.0  # seconds SQLite waits for a lock itself, each try
RETRY_FOR = 60.0  # seconds we keep trying before giving up

Migration = Callable[[sqlite3.Connection], None]


def script(db: sqlite3.Connection, text: str) -> None:
    """Run statements separated by ';' inside the current transaction (executescript()
    would commit it first)."""
    for statement in text.split(";"):
        if statement.strip():
            db.execute(statement)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


class Database:
    """A connection in autocommit mode; writes go through `transaction()`. The schema is
    at version len(migrations) (PRAGMA user_version); migrations[n] takes n to n + 1."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        migrations: Sequence[Migration],
        *,
        what: str = "database",
        busy_timeout: float = BUSY_TIMEOUT,
        retry_for: float = RETRY_FOR,
        readonly: bool = False,
    ) -> None:
        """`readonly`: open an existing database for reading only (no WAL switch, no
        migration), as a process that must never write it does."""
        self.path = os.fspath(path)
        self.what = what
        self.retry_for = retry_for
        self.lock = threading.RLock()
        self._depth = 0
        self._migrations = tuple(migrations)
        if readonly:
            self.connection = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self.connection.row_factory = sqlite3.Row
            return
        self.connection = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self.connection.row_factory = sqlite3.Row
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        # WAL is kept in the file: ask first, as switching takes the write lock.
        mode = self.retry(lambda: self.connection.execute("PRAGMA journal_mode").fetchone()[0])
        if str(mode).lower() != "wal":
            self.retry(lambda: self.connection.execute("PRAGMA journal_mode=WAL"))
        self.connection.execute("PRAGMA synchronous=NORMAL")  # crash-safe with WAL
        self.connection.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retry(self, action: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.retry_for
        delay = 0.01
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        f"the {self.what} {self.path} stayed locked for {self.retry_for:.0f}s",
                        hint="another capsa process holds it; retry later",
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (nested uses join the outer one)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.connection
                finally:
                    self._depth -= 1
                return
            self.retry(lambda: self.connection.execute("BEGIN IMMEDIATE"))
            self._depth = 1
            try:
                yield self.connection
            except BaseException:
                self._depth = 0
                self.connection.execute("ROLLBACK")
                raise
            self._depth = 0
            self.retry(lambda: self.connection.execute("COMMIT"))

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def read(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            rows: list[sqlite3.Row] = self.retry(
                lambda: self.connection.execute(sql, args).fetchall()
            )
            return rows

    def _migrate(self) -> None:
        latest = len(self._migrations)
        current = self.retry(lambda: self.connection.execute("PRAGMA user_version").fetchone()[0])
        if current == latest:
            return  # the usual case, and no write lock for it
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > latest:
                raise Unavailable(
                    f"the {self.what} {self.path} has schema version {version}, "
                    f"newer than this capsa knows ({latest})",
                    hint="upgrade capsa",
                )
            for step in range(version, latest):
                self._migrations[step](db)
            if version != latest:
                db.execute(f"PRAGMA user_version={latest}")

    @property
    def schema_version(self) -> int:
        return int(self.read("PRAGMA user_version")[0][0])
