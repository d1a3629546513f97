"""What `rmi`, `image prune` and `system df` do to and know of the images of a store:
which images a name reaches, removing images with their names and indexes, pruning
(dangling images, or every image no container uses), and the space images take.

The engine knows which images its containers use; it passes their IDs as `in_use` (no
container exists before it does, so the command line passes an empty set today). An
image in use is never pruned, and neither is any image of an index one of whose images
is in use, nor a name that reaches one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.store.errors import InUse

if TYPE_CHECKING:
    from capsa.store.metadata import ImageRecord, Metadata
    from capsa.store.store import Store

_MAX_CONFIG = 16 << 20


@dataclass(frozen=True)
class ImageDetails:
    """What filters need of an image's config."""

    created: float | None
    labels: Mapping[str, str]


def image_details(store: Store, record: ImageRecord) -> ImageDetails:
    try:
        raw = store.content.read_verified(record.id, max_size=_MAX_CONFIG)
        document = json.loads(raw)
    except (NotFound, ValueError):
        return ImageDetails(None, {})
    created = parse_rfc3339(document.get("created")) if isinstance(document, dict) else None
    config = document.get("config") if isinstance(document, dict) else None
    labels = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict):
        labels = {}
    return ImageDetails(created, {str(k): str(v) for k, v in labels.items()})


def parse_rfc3339(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Go writes nanoseconds; Python takes at most microseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


# -- filters ---------------------------------------------------------------------------------


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_go_duration(text: str) -> float | None:
    """Go's time.ParseDuration (`90m`, `1h30m`, `1.5h`, `300ms`) in seconds; None if not one."""
    rest = text.strip()
    sign = -1.0 if rest.startswith("-") else 1.0
    rest = rest.lstrip("+-")
    if not rest:
        return None
    total = 0.0
    while rest:
        number = ""
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = ""
        while rest and not (rest[0].isdigit() or rest[0] == "."):
            unit, rest = unit + rest[0], rest[1:]
        if not number or unit not in _DURATION_UNITS:
            return None
        try:
            total += float(number) * _DURATION_UNITS[unit]
        except ValueError:
            return None
    return sign * total


def parse_timestamp(text: str, now: float | None = None) -> float:
    """A `until=`/`since=` time as Docker takes it: a Go duration before now (`24h`),
    Unix seconds (`1700000000.5`), or an RFC 3339 date or time."""
    now = time.time() if now is None else now
    duration = parse_go_duration(text)
    if duration is not None:
        return now - duration
    with contextlib.suppress(ValueError):
        return float(text)
    parsed = parse_rfc3339(text)
    if parsed is None:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(text).timestamp()  # 2024-01-02 (local time)
    if parsed is None:
        raise InvalidArgument(
            f"invalid time {text!r}",
            hint="give a duration (24h, 90m), Unix seconds or an RFC 3339 time",
        )
    return parsed


@dataclass(frozen=True)
class LabelFilter:
    key: str
    value: str | None  # None: the key alone
    negated: bool = False  # `label!=`

    def accepts(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels and (self.value is None or labels[self.key] == self.value)
        return present != self.negated


def parse_label_filter(text: str, *, negated: bool = False) -> LabelFilter:
    key, eq, value = text.partition("=")
    if not key:
        raise InvalidArgument(f"invalid label filter {text!r}", hint="give label=KEY[=VALUE]")
    return LabelFilter(key, value if eq else None, negated)


def parse_filters(texts: Iterable[str], allowed: Collection[str]) -> dict[str, list[str]]:
    """`--filter KEY=VALUE` flags grouped by key (`label!=x` is key `label!`)."""
    out: dict[str, list[str]] = {}
    for text in texts:
        key, eq, value = text.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid filter {text!r}", hint="filters are KEY=VALUE")
        key = key.strip().lower()
        if key not in allowed:
            raise InvalidArgument(
                f"invalid filter {key!r}", hint=f"use one of {', '.join(sorted(allowed))}"
            )
        out.setdefault(key, []).append(value)
    return out


@dataclass(frozen=True)
class PruneFilters:
    until: float | None = None  # only images created before this
    labels: tuple[LabelFilter, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str], now: float | None = None) -> PruneFilters:
        grouped = parse_filters(texts, ("until", "label", "label!"))
        until = None
        for value in grouped.get("until", []):
            until = parse_timestamp(value, now)
        labels = [parse_label_filter(v) for v in grouped.get("label", [])]
        labels += [parse_label_filter(v, negated=True) for v in grouped.get("label!", [])]
        return cls(until, tuple(labels))

    def accepts(self, details: ImageDetails) -> bool:
        if self.until is not None and (details.created is None or details.created >= self.until):
            return False
        return all(label.accepts(details.labels) for label in self.labels)


# -- what names reach --------------------------------------------------------------------------


def reached_by(metadata: Metadata, name: str) -> set[str]:
    """The images a name gives: the one it points at and every image of its index."""
    target = metadata.get_name(name)
    images = {target.image_id}
    if target.index_digest is not None:
        images |= {m.image_id for m in metadata.index_members(target.index_digest)}
    return images


def dangling_images(metadata: Metadata) -> list[ImageRecord]:
    """Images no name reaches (`<none>:<none>`)."""
    named = metadata.named_images()
    return [record for record in metadata.images() if record.id not in named]


# -- removing --------------------------------------------------------------------------------


@dataclass
class Removal:
    untagged: list[str] = field(default_factory=list)  # names
    deleted: list[str] = field(default_factory=list)  # image IDs
    blobs: set[str] = field(default_factory=set)  # what the deleted images referenced


def remove_name(
    metadata: Metadata, name: str, *, in_use: Collection[str] = (), force: bool = False
) -> Removal:
    """`rmi NAME`: untag it, and delete the images it reached that no other name reaches
    (all the platforms of its index). Refuses (InUse) to delete an image in use unless
    `force`."""
    removal = Removal()
    with metadata.transaction():
        images = reached_by(metadata, name)
        metadata.untag(name)
        removal.untagged.append(name)
        orphans = images - metadata.named_images()
        _check_unused(metadata, orphans, in_use, force)
        _delete(metadata, orphans, removal, force=force)
    return removal


def remove_image(
    metadata: Metadata, image_id: str, *, in_use: Collection[str] = (), force: bool = False
) -> Removal:
    """`rmi ID`: delete the image and every name that points at it."""
    removal = Removal()
    with metadata.transaction():
        record = metadata.get_image(image_id)
        _check_unused(metadata, {image_id}, in_use, force)
        removal.untagged.extend(record.names)
        _delete(metadata, {image_id}, removal, force=force)
    return removal


def _check_unused(
    metadata: Metadata, images: Iterable[str], in_use: Collection[str], force: bool
) -> None:
    busy = sorted(i for i in images if i in in_use)
    if busy and not force:
        raise InUse(
            f"image {busy[0]} is in use by a container",
            hint="remove the container first, or force",
        )


def _delete(metadata: Metadata, images: Iterable[str], removal: Removal, *, force: bool) -> None:
    for image_id in sorted(images):
        for name in metadata.get_image(image_id).names:
            if name not in removal.untagged:
                removal.untagged.append(name)
        removal.blobs |= set(metadata.image_blobs(image_id))
        for index in metadata.image_indexes(image_id):
            removal.blobs |= set(metadata.index_blobs(index))
        metadata.delete_image(image_id, force=force)
        removal.deleted.append(image_id)


# -- pruning ---------------------------------------------------------------------------------


@dataclass
class PruneReport:
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    reclaimed: int = 0  # bytes: blobs and unpacked layers removed


def prune_images(
    store: Store,
    *,
    in_use: Collection[str] = frozenset(),
    all_images: bool = False,
    filters: PruneFilters | None = None,
) -> PruneReport:
    """`image prune`: delete the dangling images (with `all_images`, every image no
    container uses, with its names), those the filters accept, then collect garbage."""
    filters = filters or PruneFilters()
    metadata = store.metadata
    report = PruneReport()
    with metadata.transaction():
        records = metadata.images()
        # an image a lease holds (a running build or pull, a container) is in use too
        keep = set(in_use) | {r.id for r in records if metadata.image_leases(r.id)}
        names = metadata.names()
        for name in names:
            reached = reached_by(metadata, name.name)
            if reached & keep or not all_images:
                keep |= reached
        candidates = [r for r in records if r.id not in keep]
        chosen = {r.id for r in candidates if filters.accepts(image_details(store, r))}
        for name in names:
            if reached_by(metadata, name.name) <= chosen:
                metadata.untag(name.name)
                report.untagged.append(name.name)
        removal = Removal(untagged=list(report.untagged))
        _delete(metadata, chosen, removal, force=False)
        report.untagged, report.deleted = removal.untagged, removal.deleted
    report.reclaimed = collect(store, removal.blobs) if report.deleted else 0
    return report


def collect(store: Store, released: Collection[str] = ()) -> int:
    """Run the store's GC (`released`: the blobs of images just removed); the bytes it
    freed (blobs, and the layers' unpacked size)."""
    sizes = {layer.chain_id: layer.size for layer in store.metadata.layers()}
    gc = store.gc(released=released)
    return gc.bytes_freed + sum(sizes.get(chain, 0) for chain in gc.layers)


# -- disk usage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageUsage:
    record: ImageRecord
    size: int  # every layer of it
    shared_size: int  # its layers other images use too
    unique_size: int  # its layers no other image uses
    containers: int


@dataclass(frozen=True)
class ImagesUsage:
    total: int
    active: int
    size: int  # every layer of every image, each once
    reclaimable: int  # what removing every image no container uses would free
    images: tuple[ImageUsage, ...]


def images_usage(store: Store, in_use: Mapping[str, int] | None = None) -> ImagesUsage:
    """`system df` for images. `in_use` counts the containers of each image."""
    in_use = dict(in_use or {})
    metadata = store.metadata
    records = metadata.images()
    layer_size = {layer.chain_id: layer.size for layer in metadata.layers()}
    users: dict[str, int] = {}
    for record in records:
        for chain in set(record.layers):
            users[chain] = users.get(chain, 0) + 1
    per_image = []
    for record in records:
        chains = set(record.layers)
        shared = sum(layer_size.get(c, 0) for c in chains if users[c] > 1)
        unique = sum(layer_size.get(c, 0) for c in chains if users[c] == 1)
        per_image.append(ImageUsage(record, record.size, shared, unique, in_use.get(record.id, 0)))
    everything = {c for r in records for c in r.layers}
    active_layers = {c for r in records if in_use.get(r.id) for c in r.layers}
    total_size = sum(layer_size.get(c, 0) for c in everything)
    active_size = sum(layer_size.get(c, 0) for c in active_layers)
    return ImagesUsage(
        len(records),
        sum(1 for r in records if in_use.get(r.id)),
        total_size,
        total_size - active_size,
        tuple(per_image),
    )
