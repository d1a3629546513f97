"""How pulls and pushes print their layers, and search's formats."""

from __future__ import annotations

import io
import threading

import pytest

from capsa.cli._progress import PULL, PUSH, LayerProgress
from capsa.cli.registry_cmds import _flag_values, _format_search, _mount_candidates
from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.reference import parse_reference
from capsa.transport.types import BlobProgress

LAYER = Descriptor(mt.OCI_LAYER_GZIP, Digest.parse("sha256:" + "ab" * 32), 3_000_000)
OTHER = Descriptor(mt.OCI_LAYER_GZIP, Digest.parse("sha256:" + "cd" * 32), 10)
CONFIG = Descriptor(mt.OCI_CONFIG, Digest.parse("sha256:" + "ef" * 32), 10)


def test_plain_lines_on_state_changes_only() -> None:
    out = io.StringIO()
    progress = LayerProgress(out, PULL, tty=False)
    progress(BlobProgress(CONFIG, 10, 10))
    for done in (1_000_000, 2_000_000, 3_000_000):
        progress(BlobProgress(LAYER, done, LAYER.size))
    progress(BlobProgress(OTHER, 10, 10, skipped=True))
    progress.finish()
    assert out.getvalue().splitlines() == [
        "abababababab: Pulling fs layer",
        "abababababab: Downloading",
        "abababababab: Download complete",
        "cdcdcdcdcdcd: Already exists",
        "abababababab: Pull complete",
    ]


def test_terminal_bars_redraw_in_place() -> None:
    out = io.StringIO()
    progress = LayerProgress(out, PUSH, tty=True)
    progress(BlobProgress(LAYER, 1_500_000, LAYER.size))
    progress(BlobProgress(OTHER, 1, 10))
    progress.event(OTHER, "Mounted from library/busybox")
    progress(BlobProgress(LAYER, LAYER.size, LAYER.size))
    text = out.getvalue()
    assert "abababababab: Pushing [=========================>" in text
    assert "1.5MB/3MB" in text
    assert "\x1b[2A" in text  # the first of two rows is redrawn two lines up
    assert "cdcdcdcdcdcd: Mounted from library/busybox" in text
    assert "abababababab: Pushed" in text


def test_progress_from_threads() -> None:
    out = io.StringIO()
    progress = LayerProgress(out, PULL, tty=False)
    layers = [Descriptor(mt.OCI_LAYER_GZIP, Digest.of(bytes([n])), 100) for n in range(8)]

    def move(layer: Descriptor) -> None:
        for done in range(10, 101, 10):
            progress(BlobProgress(layer, done, 100))

    threads = [threading.Thread(target=move, args=(layer,)) for layer in layers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert out.getvalue().count("Download complete") == 8


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    progress = LayerProgress(out, PULL, tty=True, quiet=True)
    progress(BlobProgress(LAYER, 1, LAYER.size))
    progress.finish()
    assert out.getvalue() == ""


RESULTS = [
    {
        "Index": "r:5000",
        "Name": "r:5000/app",
        "Description": "d" * 60,
        "StarCount": 3,
        "IsOfficial": True,
        "IsAutomated": False,
    },
]


def test_search_formats() -> None:
    table = _format_search(RESULTS, "table", no_trunc=False).splitlines()
    assert table[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert "…" in table[1] and "[OK]" in table[1]
    assert "d" * 60 in _format_search(RESULTS, "table", no_trunc=True)
    assert _format_search(RESULTS, "{{.Name}}:{{.StarCount}}:{{.IsOfficial}}", False) == (
        "r:5000/app:3:true\n"
    )
    assert _format_search(RESULTS, "table {{.Name}}\\t{{.StarCount}}", False).split() == [
        "NAME",
        "STARS",
        "r:5000/app",
        "3",
    ]
    assert '"Name": "r:5000/app"' in _format_search(RESULTS, "json", False)
    with pytest.raises(InvalidArgument, match=r"no field \.Nope"):
        _format_search(RESULTS, "{{.Nope}}", False)


def test_flag_values_and_mount_candidates() -> None:
    assert _flag_values(["--tls-verify", "img"]) == ["--tls-verify=true", "img"]
    target = parse_reference("localhost:5000/team/app:v2")
    names = (
        "localhost:5000/team/base:v1",
        "localhost:5000/team/app:v1",
        "docker.io/library/busybox:latest",
    )
    assert _mount_candidates(names, target) == ["team/base"]
