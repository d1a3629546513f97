"""Per-layer progress of pulls and pushes, printed as Docker prints it: on a terminal one
line per layer, redrawn in place with a bar (`a3ed95caeb02: Downloading [==>   ] 1.2MB/4MB`);
elsewhere one plain line each time a layer changes state (`a3ed95caeb02: Pull complete`).
Updates come from several threads (layers move in parallel), so drawing is locked."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from capsa.humanize import human_size
from capsa.oci import media_types as mt

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.transport.types import BlobProgress

BAR_WIDTH = 50
REDRAW_EVERY = 0.1  # seconds between redraws of one layer's bar


@dataclass(frozen=True)
class Words:
    """What a pull or a push calls each state."""

    waiting: str
    moving: str
    done: str
    skipped: str
    finished: str  # after the whole image went through


PULL = Words(
    "Pulling fs layer", "Downloading", "Download complete", "Already exists", "Pull complete"
)
PUSH = Words("Preparing", "Pushing", "Pushed", "Layer already exists", "Pushed")


@dataclass
class _Row:
    key: str
    status: str
    done: int = 0
    total: int = 0
    drawn_at: float = 0.0
    final: bool = False


class LayerProgress:
    """Feed it BlobProgress updates (copy_image's callback) and blob events."""

    def __init__(self, out: TextIO, words: Words, *, tty: bool, quiet: bool = False) -> None:
        self._out = out
        self._words = words
        self._tty = tty
        self._quiet = quiet
        self._rows: dict[str, _Row] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, update: BlobProgress) -> None:
        if self._quiet or not _shown(update.descriptor):
            return
        key = update.descriptor.digest.encoded[:12]
        with self._lock:
            row = self._rows.get(key)
            if row is None and update.skipped:
                self._add(key, self._words.skipped, update.total).final = True
                return
            if row is None:
                row = self._add(key, self._words.waiting, update.total)
            if row.final:
                return
            if update.skipped:
                self._set(row, self._words.skipped, final=True)
                return
            row.done, row.total = update.done, update.total
            if update.done >= update.total:
                self._set(row, self._words.done, final=True)
            elif row.status != self._words.moving:
                self._set(row, self._words.moving)
            elif self._tty and time.monotonic() - row.drawn_at >= REDRAW_EVERY:
                self._draw(row)

    def event(self, descriptor: Descriptor, text: str) -> None:
        """A state the copy pipeline does not report (`Mounted from library/busybox`)."""
        if self._quiet or not _shown(descriptor):
            return
        key = descriptor.digest.encoded[:12]
        with self._lock:
            row = self._rows.get(key) or self._add(key, text, descriptor.size)
            self._set(row, text, final=True)

    def finish(self) -> None:
        """The image is in: every layer that moved gets the last word (Pull complete)."""
        if self._quiet:
            return
        with self._lock:
            for key in self._order:
                row = self._rows[key]
                if row.status == self._words.done and self._words.finished != row.status:
                    row.final = False
                    self._set(row, self._words.finished, final=True)

    def _add(self, key: str, status: str, total: int) -> _Row:
        row = _Row(key, status, total=total)
        self._rows[key] = row
        self._order.append(key)
        self._out.write(self._line(row) + "\n")
        self._out.flush()
        row.drawn_at = time.monotonic()
        return row

    def _set(self, row: _Row, status: str, *, final: bool = False) -> None:
        if row.status == status and row.final == final:
            return
        row.status = status
        row.final = final
        if self._tty:
            self._draw(row)
        else:
            self._out.write(self._line(row) + "\n")
            self._out.flush()

    def _draw(self, row: _Row) -> None:
        up = len(self._order) - self._order.index(row.key)
        self._out.write(f"\x1b[{up}A\r\x1b[2K{self._line(row)}\x1b[{up}B\r")
        self._out.flush()
        row.drawn_at = time.monotonic()

    def _line(self, row: _Row) -> str:
        if not self._tty or row.status != self._words.moving or row.total <= 0:
            return f"{row.key}: {row.status}"
        filled = min(BAR_WIDTH, row.done * BAR_WIDTH // row.total)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        amount = f"{human_size(row.done)}/{human_size(row.total)}"
        return f"{row.key}: {row.status} [{bar[:BAR_WIDTH]}]  {amount}"


def _shown(descriptor: Descriptor) -> bool:
    """Docker lists layers only; configs and manifests move silently."""
    return mt.is_layer(descriptor.media_type) or not (
        mt.is_config(descriptor.media_type)
        or mt.is_manifest(descriptor.media_type)
        or mt.is_index(descriptor.media_type)
    )
