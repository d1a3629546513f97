"""Progress lines of load and save: a line per blob, a bar only on a terminal."""

from __future__ import annotations

import io

from capsa.cli._copy_progress import BlobProgressPrinter
from capsa.oci import media_types as mt
from capsa.oci.descriptor import Descriptor
from capsa.transport.types import BlobProgress

LAYER = Descriptor.from_bytes(mt.OCI_LAYER_GZIP, b"x" * 4_000_000)
CONFIG = Descriptor.from_bytes(mt.OCI_CONFIG, b"{}")


def feed(printer: BlobProgressPrinter) -> None:
    for done in (1_000_000, 2_000_000, 4_000_000, 4_000_000):
        printer(BlobProgress(LAYER, done, LAYER.size))
    printer(BlobProgress(CONFIG, CONFIG.size, CONFIG.size, skipped=True))


def test_lines_without_a_terminal() -> None:
    out = io.StringIO()
    feed(BlobProgressPrinter(out))  # StringIO is no terminal
    short = LAYER.digest.encoded[:12]
    assert out.getvalue() == (
        f"Copying blob {short} done   4MB\n"
        f"Copying config {CONFIG.digest.encoded[:12]} skipped: already exists\n"
    )


def test_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    feed(BlobProgressPrinter(out, live=True))
    text = out.getvalue()
    assert "\r\x1b[K" in text
    assert "[======>" in text and "1MB / 4MB" in text
    assert text.count("\n") == 2  # the bar is redrawn in place, then replaced by the line
    assert text.splitlines()[-1].endswith("skipped: already exists")
