"""The image commands (`capsa images`, `load`, `save`, `tag`, `rmi`, `import`, `history`,
`image inspect`, `image default`): parse, call the store and the transports, print as
Docker prints. Each takes its arguments without the command name."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from capsa.cli._images import (
    NONE,
    Parser,
    familiar,
    image_config,
    inspect_document,
    open_store,
    parse_time,
    short_id,
    since,
    split_name,
    table,
    truncate,
)
from capsa.errors import CapsaError, Conflict, InvalidArgument, NotFound
from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"


@contextlib.contextmanager
def _store(root: str | None) -> Iterator[Store]:
    store = open_store(root)
    try:
        yield store
    finally:
        store.close()


# -- images ------------------------------------------------------------------------------


def images(args: list[str], prog: str = "images") -> int:
    parser = Parser(prog, "List images")
    parser.add_argument("reference", nargs="?", help="only images of REPOSITORY[:TAG]")
    parser.add_argument("-a", "--all", action="store_true", help="(every image is listed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    parser.add_argument("--digests", action="store_true", help="show digests")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate IDs")
    parser.add_argument("--format", default="table", help="table or json")
    options = parser.parse_args(args)
    if options.format not in ("table", "json"):
        raise InvalidArgument(f"unknown --format {options.format!r}", hint="table or json")
    with _store(options.root) as store:
        records = sorted(
            store.metadata.images(),
            key=lambda r: parse_time(str(image_config(store, r).get("created", ""))) or 0,
            reverse=True,
        )
        rows = []
        for record in records:
            created = str(image_config(store, record).get("created", ""))
            for repository, tag in [split_name(n) for n in record.names] or [(NONE, NONE)]:
                if options.reference and not _matches(options.reference, repository, tag):
                    continue
                rows.append((record, repository, tag, created))
    if options.quiet:
        seen: list[str] = []
        for record, *_ in rows:
            shown = record.id if options.no_trunc else short_id(record.id)
            if shown not in seen:
                seen.append(shown)
        sys.stdout.write("".join(f"{line}\n" for line in seen))
        return 0
    if options.format == "json":
        for record, repository, tag, created in rows:
            item = {
                "Containers": "N/A",
                "CreatedAt": created,
                "CreatedSince": since(created),
                "Digest": record.manifest_digest,
                "ID": record.id if options.no_trunc else short_id(record.id),
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": human_size(record.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(record.size),
            }
            sys.stdout.write(json.dumps(item, sort_keys=True) + "\n")
        return 0
    header = ["REPOSITORY", "TAG"]
    if options.digests:
        header.append("DIGEST")
    header += ["IMAGE ID", "CREATED", "SIZE"]
    lines = [header]
    for record, repository, tag, created in rows:
        line = [repository, tag]
        if options.digests:
            line.append(record.manifest_digest)
        line += [
            record.id if options.no_trunc else short_id(record.id),
            since(created),
            human_size(record.size),
        ]
        lines.append(line)
    sys.stdout.write(table(lines))
    return 0


def _matches(wanted: str, repository: str, tag: str) -> bool:
    from capsa.oci.reference import parse_normalized_named

    want = parse_normalized_named(wanted)
    have = parse_normalized_named(repository) if repository != NONE else None
    if have is None or have.name != want.name:
        return False
    return want.tag is None or want.tag == tag


# -- inspect, history ----------------------------------------------------------------------


def inspect(args: list[str]) -> int:
    from capsa.transport.store.find import find_image

    parser = Parser("image inspect", "Show images in detail")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    options = parser.parse_args(args)
    documents: list[dict[str, Any]] = []
    with _store(options.root) as store:
        for text in options.images:
            record, _ = find_image(store.metadata, text)
            documents.append(inspect_document(store, record))
    sys.stdout.write(json.dumps(documents, indent=4) + "\n")
    return 0


def history(args: list[str]) -> int:
    from capsa.transport.store.find import find_image

    parser = Parser("history", "Show how an image was made")
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    parser.add_argument("-H", "--human", default="true", help="human-readable sizes and times")
    options = parser.parse_args(args)
    human = options.human.lower() not in ("false", "0", "no")
    with _store(options.root) as store:
        record, _ = find_image(store.metadata, options.image)
        config = image_config(store, record)
        sizes = [store.metadata.get_layer(chain).size for chain in record.layers]
    raw = config.get("history")
    entries = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
    if not entries:
        entries = [{} for _ in sizes]
    rows: list[list[str]] = []
    layer = 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer") and layer < len(sizes):
            size = sizes[layer]
            layer += 1
        created = str(entry.get("created", ""))
        by = str(entry.get("created_by", ""))
        rows.append(
            [
                NONE,
                since(created) if human else created,
                by if options.no_trunc else truncate(by, 45),
                human_size(size) if human else str(size),
                str(entry.get("comment", "")),
            ]
        )
    rows.reverse()
    image = record.id if options.no_trunc else short_id(record.id)
    for i, row in enumerate(rows):
        row[0] = image if i == 0 else "<missing>"
    if options.quiet:
        sys.stdout.write("".join(f"{row[0]}\n" for row in rows))
        return 0
    sys.stdout.write(table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], *rows]))
    return 0


# -- tag, rmi --------------------------------------------------------------------------------


def tag(args: list[str]) -> int:
    from capsa.transport.store.find import find_image, normalize_name

    parser = Parser("tag", "Give an image another name")
    parser.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    parser.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    options = parser.parse_args(args)
    target = normalize_name(options.target)
    with _store(options.root) as store:
        record, _ = find_image(store.metadata, options.source)
        store.metadata.tag(target, record.id)
    return 0


def rmi(args: list[str]) -> int:
    parser = Parser("rmi", "Remove images")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("-f", "--force", action="store_true", help="remove every name of it")
    options = parser.parse_args(args)
    code = 0
    with _store(options.root) as store:
        deleted = False
        for text in options.images:
            try:
                deleted |= _remove(store, text, force=options.force)
            except CapsaError as exc:
                code = max(code, exc.exit_code)
                sys.stderr.write(f"capsa rmi: {exc}\n")
        if deleted:
            store.gc()
    return code


def _remove(store: Store, text: str, *, force: bool) -> bool:
    """Untag a name; delete the image when it was named by ID or lost its last name."""
    from capsa.transport.store.find import find_image

    record, name = find_image(store.metadata, text)
    if name is not None and len(record.names) > 1:
        store.metadata.untag(name)
        print(f"Untagged: {familiar(name)}")
        return False
    if name is None and len(record.names) > 1 and not force:
        raise Conflict(
            f"unable to delete {short_id(record.id)} (must be forced): the image is "
            "referenced in multiple repositories",
            hint="remove it by name, or use -f",
        )
    for each in record.names:
        print(f"Untagged: {familiar(each)}")
    store.metadata.delete_image(record.id, force=force)
    print(f"Deleted: {record.id}")
    return True


# -- save, load ------------------------------------------------------------------------------


def save(args: list[str]) -> int:
    from capsa.transport.copy import copy_image
    from capsa.transport.open import writing
    from capsa.transport.store.source import StoreSource

    parser = Parser("save", "Write images to an archive")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("-o", "--output", help="the archive to write")
    parser.add_argument("--format", default=DOCKER_ARCHIVE, choices=(DOCKER_ARCHIVE, OCI_ARCHIVE))
    options = parser.parse_args(args)
    if not options.output:
        raise InvalidArgument(
            "no output file: capsa save writes an archive, not a terminal",
            hint="give -o FILE",
        )
    if ":" in options.output:
        raise InvalidArgument(f"cannot write {options.output!r}: the path has a ':'")
    output = os.path.abspath(options.output)
    with _store(options.root) as store:
        sources = [StoreSource(store, text) for text in options.images]  # all found first
        with writing(f"{options.format}:{output}") as destination:
            for source in sources:
                copy_image(source, destination, name=source.found_by)
    return 0


def _archive_kind(path: str) -> tuple[str, list[tuple[int, list[str]]]]:
    """Whether `path` is a docker-archive or an oci-archive, and each image in it (its
    position and names)."""
    from capsa.transport.docker_archive import format as fmt
    from capsa.transport.types import MAX_DOCUMENT_SIZE

    try:
        with tarfile.open(path, mode="r:") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}

            def read(name: str) -> bytes:
                member = members[name]
                if not member.isfile() or member.size > MAX_DOCUMENT_SIZE:
                    raise InvalidArgument(f"{path}: {name} is not a small regular file")
                file = tar.extractfile(member)
                assert file is not None
                return file.read()

            if "manifest.json" in members:
                entries = fmt.parse_manifest_json(read("manifest.json"), path)
                return DOCKER_ARCHIVE, [(i, list(e.repo_tags)) for i, e in enumerate(entries)]
            if "index.json" in members:
                return OCI_ARCHIVE, _oci_names(read("index.json"), path)
    except FileNotFoundError:
        raise NotFound(f"cannot open {path}: no such file") from None
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArgument(f"cannot read {path} as an image archive: {exc}") from None
    raise InvalidArgument(
        f"{path} is not an image archive: it has neither manifest.json (docker-archive) "
        "nor index.json (oci-archive)"
    )


def _oci_names(data: bytes, path: str) -> list[tuple[int, list[str]]]:
    from capsa.transport.store.find import normalize_name

    try:
        index = json.loads(data)
        manifests = index["manifests"]
        assert isinstance(manifests, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise InvalidArgument(f"{path}: index.json is not an OCI image index") from None
    out: list[tuple[int, list[str]]] = []
    for i, entry in enumerate(manifests):
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        ref = (annotations or {}).get("org.opencontainers.image.ref.name", "")
        names: list[str] = []
        if isinstance(ref, str) and ("/" in ref or ":" in ref):
            with contextlib.suppress(InvalidArgument):
                names.append(normalize_name(ref))
        out.append((i, names))
    return out


def load_archive(store: Store, path: str) -> list[tuple[ImageRecord, list[str]]]:
    """Copy every image of the archive at `path` into the store, each named as in it."""
    from capsa.transport.copy import copy_image
    from capsa.transport.open import reading
    from capsa.transport.store.dest import StoreDestination
    from capsa.transport.store.find import normalize_name

    path = os.path.abspath(path)
    if ":" in path:
        raise InvalidArgument(f"cannot read {path!r}: the path has a ':'")
    kind, entries = _archive_kind(path)
    loaded: list[tuple[ImageRecord, list[str]]] = []
    for position, raw_names in entries:
        names = [normalize_name(n) for n in raw_names]
        destination = StoreDestination(store, description=f"the store at {store.root}")
        try:
            with reading(f"{kind}:{path}:@{position}") as source:
                copy_image(source, destination, name=names[0] if names else None)
            record = destination.committed[-1]
            for other in names[1:]:
                store.metadata.tag(other, record.id)
        except BaseException:
            destination.abort()
            raise
        destination.close()
        loaded.append((record, names))
    return loaded


def load(args: list[str]) -> int:
    parser = Parser("load", "Load images from an archive (docker-archive or oci-archive)")
    parser.add_argument("-i", "--input", help="the archive (default: standard input)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    parser.add_argument(
        "--busybox", action="store_true", help="make the embedded default image instead"
    )
    options = parser.parse_args(args)
    with _store(options.root) as store:
        if options.busybox:
            return _default(store, options.quiet)
        if options.input and options.input != "-":
            loaded = load_archive(store, options.input)
        else:
            if sys.stdin.isatty():
                raise InvalidArgument(
                    "no archive: standard input is a terminal", hint="give -i FILE"
                )
            with tempfile.NamedTemporaryFile(prefix="capsa-load-") as spool:
                while chunk := sys.stdin.buffer.read(1 << 20):
                    spool.write(chunk)
                spool.flush()
                loaded = load_archive(store, spool.name)
    if not options.quiet:
        for record, names in loaded:
            if not names:
                print(f"Loaded image ID: {record.id}")
            for name in names:
                print(f"Loaded image: {familiar(name)}")
    return 0


def _default(store: Store, quiet: bool) -> int:
    from capsa.transport.store.build import DEFAULT_IMAGE, default_image

    default_image(store)
    if not quiet:
        print(f"Loaded image: {DEFAULT_IMAGE}")
    return 0


def default(args: list[str]) -> int:
    parser = Parser(
        "image default",
        "Make localhost/busybox:latest from the host's static busybox (no registry)",
    )
    parser.add_argument("-q", "--quiet", action="store_true")
    options = parser.parse_args(args)
    with _store(options.root) as store:
        return _default(store, options.quiet)


# -- import ------------------------------------------------------------------------------------


def import_(args: list[str]) -> int:
    from capsa.transport.store.build import import_tarball
    from capsa.transport.store.find import normalize_name

    parser = Parser("import", "Make an image of a root filesystem tarball")
    parser.add_argument("file", metavar="file|-")
    parser.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    parser.add_argument(
        "-c", "--change", action="append", default=[], help="a Dockerfile instruction"
    )
    parser.add_argument("-m", "--message", default="", help="the commit message")
    options = parser.parse_args(args)
    name = normalize_name(options.reference) if options.reference else None
    with _store(options.root) as store:
        if options.file == "-":
            record = import_tarball(
                store,
                sys.stdin.buffer,
                name=name,
                changes=options.change,
                message=options.message,
            )
        else:
            try:
                stream = open(options.file, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                raise NotFound(f"cannot open {options.file}: no such file") from None
            except OSError as exc:
                raise InvalidArgument(f"cannot open {options.file}: {exc.strerror}") from None
            with stream:
                record = import_tarball(
                    store,
                    stream,
                    name=name,
                    changes=options.change,
                    message=options.message,
                    source=os.path.basename(options.file),
                    now=time.time(),
                )
    print(record.id)
    return 0


# -- image (the group) -------------------------------------------------------------------------

IMAGE_COMMANDS = {
    "ls": lambda a: images(a, "image ls"),
    "list": lambda a: images(a, "image ls"),
    "inspect": inspect,
    "history": history,
    "tag": tag,
    "rm": rmi,
    "load": load,
    "save": save,
    "import": import_,
    "default": default,
}


def image(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(
            "usage: capsa image COMMAND [ARGS...]\n\nCommands: " + ", ".join(IMAGE_COMMANDS) + "\n"
        )
        return 0 if args else 125
    command = IMAGE_COMMANDS.get(args[0])
    if command is None:
        raise InvalidArgument(
            f"unknown command 'image {args[0]}'",
            hint=f"use one of {', '.join(IMAGE_COMMANDS)}",
        )
    return command(args[1:])
