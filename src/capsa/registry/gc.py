"""Garbage collection of the storage directory (`capsa registry gc DIR`, or online).

Mark: every manifest revision of every repository, and what it references (config,
layers, the manifests an index lists). Sweep: blobs nobody marked, then repository
links to blobs that are gone, then uploads abandoned on disk.

A collection may run while the server takes pushes. Nothing younger than `grace`
seconds is swept, and the server touches a blob whenever it links it to a repository
(an upload finishing, a mount, a manifest pushed that references it): a blob that a push
in progress is about to reference is young, so it stays. Two collections never run at
once (a lock file).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from capsa.errors import Conflict, InvalidArgument
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, parse_manifest_or_index
from capsa.registry.storage import RegistryStorage
from capsa.store._files import FileLock


@dataclass
class Report:
    blobs: list[Digest] = field(default_factory=list)
    freed: int = 0
    links: int = 0
    manifests: list[tuple[str, Digest]] = field(default_factory=list)
    uploads: int = 0


def _references(storage: RegistryStorage, name: str, digest: Digest) -> list[Digest]:
    found = storage.read_manifest(name, digest)
    if found is None:
        return []
    data, media_type = found
    try:
        document = parse_manifest_or_index(data, media_type)
    except InvalidArgument as error:
        raise Conflict(
            f"manifest {digest} of {name} cannot be read: {error}",
            hint="nothing was collected; delete that manifest or repair the storage",
        ) from None
    if isinstance(document, Index):
        return [entry.digest for entry in document.manifests]
    return [document.config.digest, *(layer.digest for layer in document.layers)]


def _untagged(storage: RegistryStorage, name: str) -> set[Digest]:
    """Manifests of `name` that no tag reaches (through indexes) and that refer to no
    manifest that a tag reaches (signatures and SBOMs of kept images stay)."""
    revisions = set(storage.manifests(name))
    reached: set[Digest] = set()
    todo = [d for d in (storage.resolve_tag(name, t) for t in storage.tags(name)) if d]
    while todo:
        digest = todo.pop()
        if digest in reached or digest not in revisions:
            continue
        reached.add(digest)
        todo += _references(storage, name, digest)
        todo += [Digest.parse(str(e["digest"])) for e in storage.referrers(name, digest)]
    return revisions - reached


def collect(
    storage: RegistryStorage,
    *,
    grace: float = 3600.0,
    dry_run: bool = False,
    delete_untagged: bool = False,
) -> Report:
    lock = FileLock(storage.root / "gc.lock")
    if not lock.acquire(blocking=False):
        raise Conflict(
            f"another garbage collection of {storage.root} is running",
            hint="wait for it to finish",
        )
    try:
        return _collect(storage, grace, dry_run, delete_untagged)
    finally:
        lock.release()


def _collect(storage: RegistryStorage, grace: float, dry_run: bool, untagged: bool) -> Report:
    report = Report()
    cutoff = time.time() - grace
    repositories = storage.repositories()
    if untagged:
        for name in repositories:
            for digest in sorted(_untagged(storage, name), key=str):
                path = storage.root / "repositories" / name / "_manifests" / "revisions"
                revision = path / digest.algorithm / digest.encoded
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(revision).st_mtime >= cutoff:
                        continue
                report.manifests.append((name, digest))
                if not dry_run:
                    storage.delete_manifest(name, digest)
    marked: set[Digest] = set()
    for name in repositories:
        for digest in storage.manifests(name):
            marked.add(digest)
            marked.update(_references(storage, name, digest))
    for info in storage.content.list():
        if info.digest in marked or info.modified >= cutoff:
            continue
        path = storage.blob_path(info.digest)
        try:
            if os.stat(path).st_mtime >= cutoff:
                continue  # linked again while we marked
            if not dry_run:
                os.unlink(path)
        except FileNotFoundError:
            continue
        report.blobs.append(info.digest)
        report.freed += info.size
    if dry_run:
        return report
    for name in repositories:
        for digest in list(storage.layer_links(name)):
            if storage.stored_size(digest) is None and storage.unlink_blob(name, digest):
                report.links += 1
    report.uploads = len(storage.content.remove_stale_ingests(grace))
    return report
