"""`capsa images` / `capsa image ls`: a row per name (and one per dangling image), newest
first, filtered as Docker filters them (`dangling`, `label`, `before`, `since`,
`reference` globs) and printed through --format (a table, json, or a Go template)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from capsa.cli._images import NONE, Parser, open_store, short_id, since, split_name
from capsa.errors import InvalidArgument
from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.store.images import ImageDetails, LabelFilter
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store

FILTERS = ("dangling", "label", "before", "since", "reference")
HEADERS = {
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
}
TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
TABLE_DIGESTS = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)


@dataclass(frozen=True)
class Row:
    record: ImageRecord
    name: str | None  # None: a dangling image
    digest: str  # the manifest's, or the index's when the name names one
    details: ImageDetails

    @property
    def repository_tag(self) -> tuple[str, str]:
        return split_name(self.name) if self.name else (NONE, NONE)


def go_match(pattern: str, text: str) -> bool:
    """Go's path.Match: `*` and `?` stop at `/`, `[a-z]`/`[^a]` classes, `\\` escapes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end < 0:
                raise InvalidArgument(f"invalid reference filter {pattern!r}: unclosed '['")
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.fullmatch("".join(out), text) is not None


def reference_matches(pattern: str, name: str) -> bool:
    """Docker's FamiliarMatch: the pattern against `busybox:latest`, then `busybox`."""
    repository, tag = split_name(name)
    return go_match(pattern, f"{repository}:{tag}") or go_match(pattern, repository)


class ImageFilter:
    """Docker's `images --filter`s: labels all hold, references any matches."""

    def __init__(self, texts: list[str], store: Store) -> None:
        from capsa.store.images import parse_filters, parse_label_filter

        grouped = parse_filters(texts, FILTERS)
        self.dangling: bool | None = None
        for value in grouped.get("dangling", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(
                    f"invalid filter 'dangling={value}'", hint="dangling=true or dangling=false"
                )
            self.dangling = value.lower() in ("true", "1")
        self.labels: list[LabelFilter] = [parse_label_filter(v) for v in grouped.get("label", [])]
        self.references = grouped.get("reference", [])
        befores = [self._created(store, v) for v in grouped.get("before", [])]
        sinces = [self._created(store, v) for v in grouped.get("since", [])]
        self.before = min(befores) if befores else None
        self.since = max(sinces) if sinces else None

    @staticmethod
    def _created(store: Store, text: str) -> float:
        from capsa.store.images import image_details
        from capsa.transport.store.find import find_image

        record, _ = find_image(store.metadata, text)
        created = image_details(store, record).created
        return created if created is not None else record.created

    def accepts(self, row: Row) -> bool:
        if self.dangling is not None and (row.name is None) != self.dangling:
            return False
        if not all(label.accepts(row.details.labels) for label in self.labels):
            return False
        if self.references and (
            row.name is None or not any(reference_matches(p, row.name) for p in self.references)
        ):
            return False
        created = row.details.created if row.details.created is not None else row.record.created
        if self.before is not None and created >= self.before:
            return False
        return not (self.since is not None and created <= self.since)


def list_rows(store: Store) -> list[Row]:
    """A row per name, then one per image no name reaches; newest first."""
    from capsa.store.images import dangling_images, image_details

    metadata = store.metadata
    details: dict[str, ImageDetails] = {}

    def of(record: ImageRecord) -> ImageDetails:
        if record.id not in details:
            details[record.id] = image_details(store, record)
        return details[record.id]

    rows: list[Row] = []
    for name in metadata.names():
        record = metadata.get_image(name.image_id)
        digest = name.index_digest or record.manifest_digest
        rows.append(Row(record, name.name, digest, of(record)))
    for record in dangling_images(metadata):
        rows.append(Row(record, None, record.manifest_digest, of(record)))
    rows.sort(
        key=lambda r: r.details.created if r.details.created is not None else r.record.created,
        reverse=True,
    )
    return rows


def go_time(seconds: float) -> str:
    """Go's time.String (`2024-01-02 15:04:05 +0000 UTC`), as Docker prints CreatedAt."""
    moment = datetime.fromtimestamp(seconds).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %z ") + (moment.tzname() or "")


def template_row(row: Row, *, no_trunc: bool) -> dict[str, object]:
    from capsa.cli.gotemplate import Struct

    repository, tag = row.repository_tag
    created = row.details.created
    data = Struct(
        {
            "Containers": "N/A",
            "CreatedAt": go_time(created) if created is not None else "N/A",
            "CreatedSince": since_seconds(created),
            "Digest": row.digest,
            "ID": row.record.id if no_trunc else short_id(row.record.id),
            "Repository": repository,
            "SharedSize": "N/A",
            "Size": human_size(row.record.size),
            "Tag": tag,
            "UniqueSize": "N/A",
            "VirtualSize": human_size(row.record.size),
        }
    )
    data.type_name = "image"
    return data


def since_seconds(created: float | None) -> str:
    if created is None:
        return "N/A"
    from datetime import UTC

    return since(datetime.fromtimestamp(created, UTC).isoformat())


def _positional(wanted: str, name: str | None) -> bool:
    """`capsa images busybox[:tag]`: that repository (and tag)."""
    from capsa.oci.reference import parse_normalized_named

    if name is None:
        return False
    want = parse_normalized_named(wanted)
    have = parse_normalized_named(name)
    return have.name == want.name and (want.tag is None or want.tag == have.tag)


def images(args: list[str], prog: str = "images") -> int:
    from capsa.cli.formatter import render

    parser = Parser(prog, "List images")
    parser.add_argument("reference", nargs="?", help="only images of REPOSITORY[:TAG]")
    parser.add_argument("-a", "--all", action="store_true", help="(every image is listed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only image IDs")
    parser.add_argument("--digests", action="store_true", help="show digests")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate IDs")
    parser.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        help="dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE, reference=PATTERN",
    )
    parser.add_argument("--format", help="table, json, or a Go template ('{{.ID}}')")
    options = parser.parse_args(args)
    store = open_store(options.root)
    try:
        wanted = ImageFilter(options.filter, store)
        rows = [row for row in list_rows(store) if wanted.accepts(row)]
    finally:
        store.close()
    if options.reference:
        rows = [row for row in rows if _positional(options.reference, row.name)]
    if options.quiet:
        seen: list[str] = []
        for row in rows:
            shown = row.record.id if options.no_trunc else short_id(row.record.id)
            if shown not in seen:
                seen.append(shown)
        sys.stdout.write("".join(f"{line}\n" for line in seen))
        return 0
    data = [template_row(row, no_trunc=options.no_trunc) for row in rows]
    default = TABLE_DIGESTS if options.digests else TABLE
    sys.stdout.write(render(options.format, data, default=default, headers=HEADERS))
    return 0
