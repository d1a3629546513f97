"""`capsa save` and `capsa load`: images to and from docker-archive and oci-archive files
(and, for load, OCI layout directories), multi-platform indexes included, with a line
per blob on stderr (a bar while it moves, on a terminal) unless `-q`."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capsa.cli._copy_progress import BlobProgressPrinter
from capsa.cli._images import Parser, familiar, open_store
from capsa.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from capsa.oci.platform import Platform
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store
    from capsa.transport.types import ProgressCallback

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
OCI_LAYOUT = "oci"
CONTAINERD_NAME = "io.containerd.image.name"  # the full name Docker and containerd write


def _platform(text: str | None) -> Platform | None:
    from capsa.oci.platform import parse_platform

    return parse_platform(text) if text else None


# -- save ----------------------------------------------------------------------------------


def save(args: list[str]) -> int:
    from capsa.transport.copy import copy_image
    from capsa.transport.open import writing
    from capsa.transport.store.source import StoreSource

    parser = Parser("save", "Write images to an archive")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("-o", "--output", help="the archive to write")
    parser.add_argument("--format", default=DOCKER_ARCHIVE, choices=(DOCKER_ARCHIVE, OCI_ARCHIVE))
    parser.add_argument("--platform", help="save only this platform's image (os/arch[/variant])")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no progress")
    options = parser.parse_args(args)
    if not options.output:
        raise InvalidArgument(
            "no output file: capsa save writes an archive, not a terminal",
            hint="give -o FILE",
        )
    if ":" in options.output:
        raise InvalidArgument(f"cannot write {options.output!r}: the path has a ':'")
    platform = _platform(options.platform)
    output = os.path.abspath(options.output)
    # A docker-archive holds one image per name: a multi-platform name gives its default.
    whole = options.format == OCI_ARCHIVE and platform is None
    progress = None if options.quiet else BlobProgressPrinter(sys.stderr)
    store = open_store(options.root)
    try:
        sources = [  # all found before anything is written
            StoreSource(store, text, platform=platform, whole_index=whole)
            for text in options.images
        ]
        with writing(f"{options.format}:{output}") as destination:
            for source in sources:
                copy_image(
                    source,
                    destination,
                    name=source.found_by,
                    available_platforms=source.index is not None,
                    progress=progress,
                )
    finally:
        store.close()
    return 0


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveEntry:
    position: int
    names: tuple[str, ...]  # normalised


@dataclass(frozen=True)
class Loaded:
    record: ImageRecord  # the image a name gives by default
    names: tuple[str, ...]
    platforms: int  # how many platforms' images were stored


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> bytes:
    from capsa.transport.types import MAX_DOCUMENT_SIZE

    if not member.isfile() or member.size > MAX_DOCUMENT_SIZE:
        raise InvalidArgument(f"{path}: {member.name} is not a small regular file")
    file = tar.extractfile(member)
    assert file is not None
    return file.read()


def archive_kind(path: str) -> tuple[str, list[ArchiveEntry]]:
    """The transport that reads `path` (a docker-archive, an oci-archive, an OCI layout
    directory) and each image in it. An archive with both manifest.json and an index.json
    (Docker 25 writes both) is read as OCI when its index lists a multi-platform index,
    which manifest.json cannot describe."""
    from capsa.transport.docker_archive import format as fmt

    if os.path.isdir(path):
        index = os.path.join(path, "index.json")
        if not os.path.isfile(os.path.join(path, "oci-layout")) or not os.path.isfile(index):
            raise InvalidArgument(f"{path} is a directory but not an OCI image layout")
        with open(index, "rb") as file:
            return OCI_LAYOUT, _oci_entries(file.read(), path)
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            oci = None
            if "index.json" in members:
                oci = _oci_entries(_read_member(tar, members["index.json"], path), path)
                if "manifest.json" not in members or _lists_an_index(
                    _read_member(tar, members["index.json"], path)
                ):
                    return OCI_ARCHIVE, oci
            if "manifest.json" in members:
                entries = fmt.parse_manifest_json(
                    _read_member(tar, members["manifest.json"], path), path
                )
                return DOCKER_ARCHIVE, [
                    ArchiveEntry(i, tuple(_normalized(e.repo_tags))) for i, e in enumerate(entries)
                ]
    except FileNotFoundError:
        raise NotFound(f"cannot open {path}: no such file") from None
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArgument(f"cannot read {path} as an image archive: {exc}") from None
    raise InvalidArgument(
        f"{path} is not an image archive: it has neither manifest.json (docker-archive) "
        "nor index.json (oci-archive)"
    )


def _normalized(names: tuple[str, ...] | list[str]) -> list[str]:
    from capsa.transport.store.find import normalize_name

    return [normalize_name(name) for name in names]


def _lists_an_index(data: bytes) -> bool:
    from capsa.oci import media_types as mt

    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return any(mt.is_index(e.get("mediaType", "")) for e in json.loads(data)["manifests"])
    return False


def _oci_entries(data: bytes, path: str) -> list[ArchiveEntry]:
    from capsa.transport.store.find import normalize_name

    try:
        index = json.loads(data)
        manifests = index["manifests"]
        assert isinstance(manifests, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise InvalidArgument(f"{path}: index.json is not an OCI image index") from None
    out: list[ArchiveEntry] = []
    for i, entry in enumerate(manifests):
        annotations = (entry.get("annotations") if isinstance(entry, dict) else None) or {}
        names: list[str] = []
        for key in (CONTAINERD_NAME, "org.opencontainers.image.ref.name"):
            ref = annotations.get(key, "")
            if isinstance(ref, str) and ("/" in ref or ":" in ref):
                with contextlib.suppress(InvalidArgument):
                    names.append(normalize_name(ref))
                    break
        out.append(ArchiveEntry(i, tuple(names)))
    return out


def load_archive(
    store: Store,
    path: str,
    *,
    platform: Platform | None = None,
    progress: ProgressCallback | None = None,
) -> list[Loaded]:
    """Copy every image of the archive or layout at `path` into the store, each named as
    in it. A multi-platform index is kept whole with every platform whose blobs are
    there, or, with `platform`, that platform's image only (NotFound if it has none)."""
    from capsa.transport.copy import copy_image
    from capsa.transport.open import reading
    from capsa.transport.store.dest import StoreDestination

    path = os.path.abspath(path)
    if ":" in path:
        raise InvalidArgument(f"cannot read {path!r}: the path has a ':'")
    kind, entries = archive_kind(path)
    loaded: list[Loaded] = []
    for entry in entries:
        names = entry.names
        destination = StoreDestination(store, description=f"the store at {store.root}")
        try:
            with reading(f"{kind}:{path}:@{entry.position}") as source:
                copy_image(
                    source,
                    destination,
                    name=names[0] if names else None,
                    platform=platform,
                    keep_index=platform is not None,
                    available_platforms=platform is None,
                    progress=progress,
                )
            record = destination.committed[0]
            index = destination.committed_index
            for other in names[1:]:
                store.metadata.tag(other, record.id, index.digest if index else None)
        except BaseException:
            destination.abort()
            raise
        destination.close()
        loaded.append(Loaded(record, names, len(destination.committed)))
    return loaded


def load(args: list[str]) -> int:
    parser = Parser("load", "Load images from an archive (docker-archive or oci-archive)")
    parser.add_argument("-i", "--input", help="the archive or OCI layout (default: stdin)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no progress")
    parser.add_argument("--platform", help="load only this platform's image (os/arch[/variant])")
    parser.add_argument(
        "--busybox", action="store_true", help="make the embedded default image instead"
    )
    options = parser.parse_args(args)
    platform = _platform(options.platform)
    progress = None if options.quiet else BlobProgressPrinter(sys.stderr)
    store = open_store(options.root)
    try:
        if options.busybox:
            from capsa.transport.store.build import DEFAULT_IMAGE, default_image

            default_image(store)
            print(f"Loaded image: {DEFAULT_IMAGE}")
            return 0
        if options.input and options.input != "-":
            loaded = load_archive(store, options.input, platform=platform, progress=progress)
        else:
            if sys.stdin.isatty():
                raise InvalidArgument(
                    "no archive: standard input is a terminal", hint="give -i FILE"
                )
            with tempfile.NamedTemporaryFile(prefix="capsa-load-") as spool:
                while chunk := sys.stdin.buffer.read(1 << 20):
                    spool.write(chunk)
                spool.flush()
                loaded = load_archive(store, spool.name, platform=platform, progress=progress)
    finally:
        store.close()
    for item in loaded:
        if not item.names:
            print(f"Loaded image ID: {item.record.id}")
        for name in item.names:
            print(f"Loaded image: {familiar(name)}")
    return 0
