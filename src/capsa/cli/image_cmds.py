"""The image commands (`tag`, `rmi`, `import`, `history`, `image inspect`, `image
prune`, `image default`, and the `capsa image` group): parse, call the store and the
transports, print as Docker prints. Each takes its arguments without the command name.
Listing is capsa.cli.image_list's, save and load capsa.cli.image_transfer's."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from capsa.cli._images import (
    Parser,
    familiar,
    image_config,
    inspect_document,
    open_store,
    short_id,
    since,
    truncate,
)
from capsa.errors import CapsaError, Conflict, InvalidArgument, NotFound
from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.oci.platform import Platform
    from capsa.store.store import Store

# Which images containers use (the engine's answer by default; tests pass their own).
InUse = Callable[["Store"], Collection[str]]


def containers_in_use(store: Store) -> Collection[str]:
    from capsa.cli.engine_usage import images_in_use

    return images_in_use(store)


@contextlib.contextmanager
def _store(root: str | None) -> Iterator[Store]:
    store = open_store(root)
    try:
        yield store
    finally:
        store.close()


def _platform(text: str | None) -> Platform | None:
    from capsa.oci.platform import parse_platform

    return parse_platform(text) if text else None


# -- inspect, history ----------------------------------------------------------------------


def inspect(args: list[str]) -> int:
    from capsa.cli.formatter import render_documents
    from capsa.transport.store.find import find_image

    parser = Parser("image inspect", "Show images in detail")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("-f", "--format", help="json, or a Go template ('{{.Id}}')")
    parser.add_argument("--platform", help="the image of this platform (os/arch[/variant])")
    options = parser.parse_args(args)
    platform = _platform(options.platform)
    documents: list[dict[str, Any]] = []
    with _store(options.root) as store:
        for text in options.images:
            record, _ = find_image(store.metadata, text, platform)
            documents.append(inspect_document(store, record))
    sys.stdout.write(render_documents(options.format, documents))
    return 0


HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}


def history(args: list[str]) -> int:
    from capsa.cli.formatter import render
    from capsa.cli.gotemplate import Struct
    from capsa.store.images import parse_rfc3339
    from capsa.transport.store.find import find_image

    parser = Parser("history", "Show how an image was made")
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    parser.add_argument("-H", "--human", default="true", help="human-readable sizes and times")
    parser.add_argument("--format", help="table, json, or a Go template ('{{.CreatedBy}}')")
    parser.add_argument("--platform", help="the image of this platform (os/arch[/variant])")
    options = parser.parse_args(args)
    human = options.human.lower() not in ("false", "0", "no")
    with _store(options.root) as store:
        record, _ = find_image(store.metadata, options.image, _platform(options.platform))
        config = image_config(store, record)
        sizes = [store.metadata.get_layer(chain).size for chain in record.layers]
    raw = config.get("history")
    entries = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
    if not entries:
        entries = [{} for _ in sizes]
    rows: list[Struct] = []
    layer = 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer") and layer < len(sizes):
            size = sizes[layer]
            layer += 1
        created = str(entry.get("created", ""))
        moment = parse_rfc3339(created)
        created_at = _rfc3339(moment) if moment is not None else "N/A"
        by = str(entry.get("created_by", ""))
        row = Struct(
            {
                "ID": "<missing>",
                "CreatedSince": since(created) if human else created_at,
                "CreatedAt": created_at,
                "CreatedBy": by if options.no_trunc else truncate(by, 45),
                "Size": human_size(size) if human else str(size),
                "Comment": str(entry.get("comment", "")),
            }
        )
        row.type_name = "history"
        rows.append(row)
    rows.reverse()
    if rows:
        rows[0]["ID"] = record.id if options.no_trunc else short_id(record.id)
    if options.quiet:
        sys.stdout.write("".join(f"{row['ID']}\n" for row in rows))
        return 0
    sys.stdout.write(render(options.format, rows, default=HISTORY_TABLE, headers=HISTORY_HEADERS))
    return 0


def _rfc3339(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- tag, rmi --------------------------------------------------------------------------------


def tag(args: list[str]) -> int:
    from capsa.transport.store.find import find_image, normalize_name

    parser = Parser("tag", "Give an image another name")
    parser.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    parser.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    options = parser.parse_args(args)
    target = normalize_name(options.target)
    with _store(options.root) as store:
        record, name = find_image(store.metadata, options.source)
        # A name of a multi-platform index gives the new name the whole index.
        index = store.metadata.get_name(name).index_digest if name is not None else None
        store.metadata.tag(target, record.id, index)
    return 0


def rmi(args: list[str], in_use: InUse = containers_in_use) -> int:
    parser = Parser("rmi", "Remove images")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("-f", "--force", action="store_true", help="remove every name of it")
    options = parser.parse_args(args)
    code = 0
    with _store(options.root) as store:
        used = in_use(store)
        released: set[str] = set()
        for text in options.images:
            try:
                released |= _remove(store, text, force=options.force, in_use=used)
            except CapsaError as exc:
                code = 1  # as Docker: each image's failure is reported, the exit code is 1
                sys.stderr.write(f"capsa rmi: {exc}\n")
        if released:
            store.gc(released=released)
    return code


def _remove(store: Store, text: str, *, force: bool, in_use: Collection[str]) -> set[str]:
    """Untag a name; delete the images it reached when no other name reaches them, or
    the image itself when named by ID."""
    from capsa.store.images import remove_image, remove_name
    from capsa.transport.store.find import find_image

    record, name = find_image(store.metadata, text)
    if name is None and len(record.names) > 1 and not force:
        raise Conflict(
            f"unable to delete {short_id(record.id)} (must be forced): the image is "
            "referenced in multiple repositories",
            hint="remove it by name, or use -f",
        )
    if name is not None:
        removal = remove_name(store.metadata, name, in_use=in_use, force=force)
    else:
        removal = remove_image(store.metadata, record.id, in_use=in_use, force=force)
    for each in removal.untagged:
        print(f"Untagged: {familiar(each)}")
    for image_id in removal.deleted:
        print(f"Deleted: {image_id}")
    return removal.blobs


# -- prune -----------------------------------------------------------------------------------

PRUNE_DANGLING = "WARNING! This will remove all dangling images."
PRUNE_ALL = (
    "WARNING! This will remove all images without at least one container associated to them."
)


def confirm(warning: str) -> bool:
    """Docker's prompt: yes only for `y` or `yes`; no answer (end of input) is no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def prune(args: list[str], in_use: InUse = containers_in_use) -> int:
    """`image prune`; `in_use` gives the images containers use (the engine passes its)."""
    from capsa.store.images import PruneFilters, prune_images

    parser = Parser("image prune", "Remove unused images")
    parser.add_argument(
        "-a", "--all", action="store_true", help="every image no container uses, not only dangling"
    )
    parser.add_argument("-f", "--force", action="store_true", help="do not ask to confirm")
    parser.add_argument(
        "--filter", action="append", default=[], help="until=TIME, label=KEY[=VALUE], label!=..."
    )
    options = parser.parse_args(args)
    filters = PruneFilters.parse(options.filter)  # a bad filter fails before the prompt
    if not options.force and not confirm(PRUNE_ALL if options.all else PRUNE_DANGLING):
        return 0
    with _store(options.root) as store:
        report = prune_images(store, in_use=in_use(store), all_images=options.all, filters=filters)
    if report.untagged or report.deleted:
        lines = ["Deleted Images:"]
        lines += [f"untagged: {familiar(name)}" for name in report.untagged]
        lines += [f"deleted: {image_id}" for image_id in report.deleted]
        sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(report.reclaimed)}\n")
    return 0


# -- default, import ------------------------------------------------------------------------


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
    parser.add_argument("--platform", help="the image's platform (default: this host's)")
    options = parser.parse_args(args)
    name = normalize_name(options.reference) if options.reference else None
    platform = _platform(options.platform)
    with _store(options.root) as store:
        if options.file == "-":
            record = import_tarball(
                store,
                sys.stdin.buffer,
                name=name,
                changes=options.change,
                message=options.message,
                platform=platform,
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
                    platform=platform,
                )
    print(record.id)
    return 0


# -- image (the group) -------------------------------------------------------------------------


def _images(args: list[str]) -> int:
    from capsa.cli.image_list import images

    return images(args, "image ls")


def _load(args: list[str]) -> int:
    from capsa.cli.image_transfer import load

    return load(args)


def _build(args: list[str]) -> int:
    from capsa.cli.build import run as build

    return build(args)


def _save(args: list[str]) -> int:
    from capsa.cli.image_transfer import save

    return save(args)


IMAGE_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "build": _build,
    "ls": _images,
    "list": _images,
    "inspect": inspect,
    "history": history,
    "tag": tag,
    "rm": rmi,
    "prune": prune,
    "load": _load,
    "save": _save,
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
