"""Progress of blob copies for people (`capsa load`, `capsa save`): a line per blob as
Podman prints them (`Copying blob 0123456789ab done   4.26MB`), and while a blob moves,
a bar redrawn in place when the stream is a terminal (never in a pipe or a log)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.transport.types import BlobProgress

BAR_WIDTH = 30
REDRAW_EVERY = 0.1  # seconds between two redraws of a bar


def _bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total > 0 else BAR_WIDTH
    arrow = ">" if filled < BAR_WIDTH else "="
    body = "=" * max(filled - 1, 0) + (arrow if filled else "")
    return f"[{body.ljust(BAR_WIDTH)}]"


class BlobProgressPrinter:
    """A ProgressCallback for copy_image() that writes to `stream`."""

    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._drawn = 0.0
        self._open_line = False
        self._finished: set[str] = set()

    def __call__(self, event: BlobProgress) -> None:
        from capsa.oci import media_types as mt

        descriptor = event.descriptor
        key = str(descriptor.digest)
        if key in self._finished:
            return
        kind = "config" if mt.is_config(descriptor.media_type) else "blob"
        head = f"Copying {kind} {descriptor.digest.encoded[:12]}"
        if event.skipped:
            self._line(f"{head} skipped: already exists")
        elif event.done >= event.total:
            self._line(f"{head} done   {human_size(event.total)}")
        elif self.live and time.monotonic() - self._drawn >= REDRAW_EVERY:
            sizes = f"{human_size(event.done)} / {human_size(event.total)}"
            self.stream.write(f"\r\x1b[K{head} {_bar(event.done, event.total)} {sizes}")
            self.stream.flush()
            self._drawn = time.monotonic()
            self._open_line = True
            return
        else:
            return
        self._finished.add(key)

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self._open_line else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()
        self._open_line = False

    def message(self, text: str) -> None:
        """A line between blobs (`Writing manifest to image destination`)."""
        self._line(text)
