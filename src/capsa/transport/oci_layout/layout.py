"""The OCI image layout (image-spec image-layout.md), shared by the directory and the
archive transports: file names, the `oci-layout` marker, index.json and its refs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.manifest import Index

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"


def blob_path(digest: Digest) -> str:
    """`blobs/<alg>/<encoded>`; safe as a path because Digest.parse checked both parts."""
    return f"{BLOBS_DIR}/{digest.algorithm}/{digest.encoded}"


def layout_file_bytes() -> bytes:
    return canonical_bytes({"imageLayoutVersion": LAYOUT_VERSION})


def check_layout_file(data: bytes, where: str) -> None:
    document = load_json(data, f"{where}: {LAYOUT_FILE}")
    version = document.get("imageLayoutVersion")
    if not isinstance(version, str):
        raise InvalidArgument(f"{where}: {LAYOUT_FILE} has no imageLayoutVersion")
    if version.split(".")[0] != "1":
        raise InvalidArgument(
            f"{where}: OCI layout version {version} is not supported",
            hint=f"capsa reads and writes layout version {LAYOUT_VERSION}",
        )


def parse_index(data: bytes, where: str) -> Index:
    return Index.from_json(load_json(data, f"{where}: {INDEX_FILE}"), f"{where}: {INDEX_FILE}")


def empty_index() -> Index:
    return Index((), media_type=media_types.OCI_INDEX)


def index_bytes(index: Index) -> bytes:
    return canonical_bytes(index)


def ref_of(descriptor: Descriptor) -> str | None:
    return descriptor.annotations.get(REF_NAME)


def with_entry(index: Index, descriptor: Descriptor, ref: str | None) -> Index:
    """index.json with `descriptor` named `ref`: an entry with the same ref is replaced,
    every other entry kept in its place; without a ref, an unnamed entry is added unless
    one for the same digest exists."""
    entries = list(index.manifests)
    if ref is None:
        if any(ref_of(e) is None and e.digest == descriptor.digest for e in entries):
            return index
        entries.append(descriptor)
    else:
        annotations = dict(descriptor.annotations)
        annotations[REF_NAME] = ref
        entry = replace(descriptor, annotations=annotations)
        positions = [i for i, e in enumerate(entries) if ref_of(e) == ref]
        if positions:
            entries[positions[0]] = entry
            for i in reversed(positions[1:]):
                del entries[i]
        else:
            entries.append(entry)
    return replace(index, manifests=tuple(entries), media_type=media_types.OCI_INDEX)


def find_entry(index: Index, ref: str | None, source_index: int | None, where: str) -> Descriptor:
    """The index.json entry a reference names: by ref, by position (`@N`), or the only
    image when no ref is given."""
    entries = index.manifests
    if source_index is not None:
        if source_index >= len(entries):
            raise NotFound(
                f"{where}: no image @{source_index}; the layout lists {len(entries)} entries"
            )
        return entries[source_index]
    if ref is None:
        images = [e for e in entries if _is_image(e)]
        if len(images) == 1:
            return images[0]
        if not images:
            raise NotFound(f"{where}: the layout holds no image")
        raise InvalidArgument(
            f"{where}: the layout holds {len(images)} images; name one",
            hint=_refs_hint(index),
        )
    matches = [e for e in entries if ref_of(e) == ref]
    if not matches:
        raise NotFound(f"{where}: no image named {ref!r} in the layout", hint=_refs_hint(index))
    if len(matches) > 1:
        raise InvalidArgument(
            f"{where}: {len(matches)} entries of index.json are named {ref!r}",
            hint="the layout is ambiguous; name the image by position (@N) instead",
        )
    return matches[0]


def _is_image(descriptor: Descriptor) -> bool:
    return media_types.is_manifest(descriptor.media_type) or media_types.is_index(
        descriptor.media_type
    )


def _refs_hint(index: Index) -> str:
    refs = [ref for ref in (ref_of(e) for e in index.manifests) if ref is not None]
    if not refs:
        return f"the layout names none of its {len(index.manifests)} entries; use @N (from 0)"
    return "it has " + ", ".join(repr(ref) for ref in refs)
