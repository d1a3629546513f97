"""`Store`: the image store of one root directory, tying together the content store, the
metadata database and a snapshotter, with the operations that span them (layer unpack,
image records, garbage collection).

    <root>/blobs, <root>/ingest       content (capsa.store.blobs)
    <root>/capsa.db                   metadata (capsa.store.metadata)
    <root>/snapshots/<driver>/        the snapshotter's own directory and database
    <root>/driver                     which snapshotter this root uses, chosen once
                                      (`overlay userxattr` for an unprivileged user's)

An unprivileged user's store: layers are unpacked with every file owned by that user
(whoever owned it in the layer; a user cannot give files away, as Podman's
ignore_chown_errors), and overlay is used where the kernel lets an unprivileged user
namespace mount it with `userxattr` (Linux 5.11), vfs otherwise. Its mounts are then
for a process in such a user namespace (the rootless engine's).

GC safety. Every long operation holds a lease (a row in the metadata database) and adds
each thing it is about to use to the lease *before* looking whether it exists; garbage
collection marks and sweeps while holding the database's write lock (one `BEGIN
IMMEDIATE` transaction), so a lease entry is taken either before a collection (and what
it names is kept) or after it (and the operation sees the collection's result). Blobs no
image or lease names are also kept while younger than a grace period, which covers a
blob written before its digest was known (an import). Half-made snapshots (`extract-`)
without a lease are removed once older than the grace period.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from capsa.oci.digest import Digest
from capsa.store._files import remove_tree, write_atomic
from capsa.store.blobs import BlobInfo, ContentStore, Readable, chunks_of
from capsa.store.errors import InUse
from capsa.store.fsops import FsOps
from capsa.store.layerformat import OPAQUE_XATTR, USER_OPAQUE_XATTR, IdMapper
from capsa.store.layers import chain_id
from capsa.store.metadata import ImageRecord, LayerRecord, Metadata, ResourceKind
from capsa.store.snapshots import Kind, OverlaySnapshotter, VfsSnapshotter
from capsa.store.snapshots._dirs import DirSnapshotter
from capsa.store.snapshots.overlay import overlay_options

if TYPE_CHECKING:
    from capsa.store.unpack import UnpackResult

DRIVERS = ("overlay", "vfs")
GC_GRACE = 600.0  # seconds an unreferenced new blob or half-made snapshot is kept
INGEST_EXPIRY = 24 * 3600.0  # an ingest nobody wrote to for this long is dropped
EXTRACT_PREFIX = "extract-"


class Lease:
    """A hold on things a running operation uses. Add before use; release at the end."""

    def __init__(self, metadata: Metadata, lease_id: str) -> None:
        self.metadata = metadata
        self.id = lease_id

    def add(self, kind: ResourceKind, key: str) -> None:
        self.metadata.add_lease_resource(self.id, kind, key)

    def add_blob(self, digest: Digest | str) -> None:
        self.add(ResourceKind.BLOB, str(digest))

    def add_layer(self, chain: str) -> None:
        self.add(ResourceKind.LAYER, chain)

    def add_snapshot(self, key: str) -> None:
        self.add(ResourceKind.SNAPSHOT, key)

    def add_image(self, image_id: str) -> None:
        self.add(ResourceKind.IMAGE, image_id)

    def add_ingest(self, ref: str) -> None:
        self.add(ResourceKind.INGEST, ref)

    def extend(self, expires_in: float | None) -> None:
        self.metadata.extend_lease(self.id, expires_in)

    def release(self) -> None:
        self.metadata.delete_lease(self.id)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class GCReport:
    blobs: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    ingests: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)
    bytes_freed: int = 0


class Store:
    """The store at `root` (e.g. `Config.root / "storage"`).

    `driver` is "overlay", "vfs" or None: the one recorded for this root, else overlay
    when a real test mount shows the kernel can use it here, else vfs. `id_map` maps the
    IDs in layers to host IDs (rootless); `ops` replaces the privileged file operations
    (tests)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        driver: str | None = None,
        id_map: IdMapper | None = None,
        ops: FsOps | None = None,
        gc_grace: float = GC_GRACE,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.content = ContentStore(self.root)
        self.metadata = Metadata(self.root / "capsa.db")
        if id_map is None and os.geteuid() != 0 and ops is None:
            id_map = owned_by(os.geteuid(), os.getegid())
        self.id_map = id_map
        self.ops = ops
        self.gc_grace = gc_grace
        self.driver, options = self._choose_driver(driver)
        self.userxattr = "userxattr" in options
        snapshots_root = self.root / "snapshots" / self.driver
        self.snapshotter: DirSnapshotter = (
            OverlaySnapshotter(snapshots_root, ops=ops, userxattr=self.userxattr)
            if self.driver == "overlay"
            else VfsSnapshotter(snapshots_root, ops=ops)
        )

    def close(self) -> None:
        self.snapshotter.close()
        self.metadata.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _choose_driver(self, wanted: str | None) -> tuple[str, tuple[str, ...]]:
        """The driver (and its options) recorded for this root, else chosen now."""
        if wanted is not None and wanted not in DRIVERS:
            raise InvalidArgument(f"unknown storage driver {wanted!r}", hint="overlay or vfs")
        record = self.root / "driver"
        try:
            recorded, *options = record.read_text().split()
        except (FileNotFoundError, ValueError):
            recorded, options = "", []
        if recorded:
            if wanted is not None and wanted != recorded:
                raise Conflict(
                    f"the store at {self.root} uses the {recorded} driver, not {wanted}",
                    hint="use the same driver, or another --root",
                )
            return recorded, tuple(options)
        if wanted is None:
            supported, _ = overlay_supported(self.root)
            wanted = "overlay" if supported else "vfs"
        # An unprivileged user's overlay marks opaque directories with user.* xattrs.
        options = ["userxattr"] if wanted == "overlay" and os.geteuid() != 0 else []
        write_atomic(record, " ".join([wanted, *options]).encode() + b"\n", 0o600)
        return wanted, tuple(options)

    # -- leases and blobs ---------------------------------------------------------------

    def lease(
        self,
        lease_id: str | None = None,
        *,
        expires_in: float | None = 3600.0,
        labels: Mapping[str, str] | None = None,
    ) -> Lease:
        return Lease(
            self.metadata,
            self.metadata.create_lease(lease_id, expires_in=expires_in, labels=labels),
        )

    def write_blob(
        self,
        source: Readable | Iterable[bytes],
        *,
        lease: Lease,
        expected: Digest | str | None = None,
        total: int | None = None,
        ref: str | None = None,
    ) -> BlobInfo:
        """Store a blob under a lease. The lease names it before anything looks for it:
        up front when its digest is known, else once hashed and before it is committed."""
        if expected is not None:
            lease.add_blob(expected)
            if ref is not None:
                lease.add_ingest(ref)
            return self.content.write_stream(source, expected=expected, total=total, ref=ref)
        ref = ref or f"{lease.id}-{secrets.token_hex(8)}"
        lease.add_ingest(ref)
        with self.content.writer(ref, total=total) as writer:
            if writer.offset:
                writer.truncate()
            for chunk in chunks_of(source):
                writer.write(chunk)
            lease.add_blob(writer.digest())
            return writer.commit()

    # -- layers -------------------------------------------------------------------------

    def layer(self, chain: str) -> LayerRecord | None:
        """The layer if it is recorded and its snapshot is there."""
        try:
            record = self.metadata.get_layer(chain)
            info = self.snapshotter.stat(record.snapshot_key)
        except NotFound:
            return None
        return record if info.kind is Kind.COMMITTED else None

    def unpack(
        self,
        blob: Digest | str,
        *,
        lease: Lease,
        parent: str | None = None,
        diff_id: Digest | str | None = None,
        media_type: str = "",
    ) -> LayerRecord:
        """Make the layer stored as blob `blob` on top of layer `parent` (a chain ID),
        unpacking it only if no snapshot of it exists yet."""
        digest = Digest.parse(str(blob))
        lease.add_blob(digest)
        if parent is not None:
            lease.add_layer(parent)
            if self.layer(parent) is None:
                raise NotFound(f"parent layer {parent} is not in the store")
        if diff_id is None:
            known = self.metadata.layer_blobs(digest=str(digest))
            diff_id = known[0].diff_id if known else None
        if diff_id is not None:
            chain = chain_id(parent, diff_id)
            lease.add_layer(chain)
            existing = self.layer(chain)
            if existing is not None:
                self.metadata.add_layer_blob(
                    existing.diff_id, str(digest), self.content.size(digest), media_type
                )
                return existing
        with self.content.open(digest) as reader:
            record, _ = self.unpack_stream(
                reader,
                lease=lease,
                parent=parent,
                diff_id=diff_id,
                name=str(digest),
            )
        self.metadata.add_layer_blob(record.diff_id, str(digest), reader.size, media_type)
        return record

    def unpack_stream(
        self,
        source: Readable,
        *,
        lease: Lease,
        parent: str | None = None,
        diff_id: Digest | str | None = None,
        name: str = "layer",
    ) -> tuple[LayerRecord, UnpackResult]:
        """Apply a layer read from `source` (tar, gzip or zstd) as a new snapshot on
        `parent`, commit it under its chain ID and record it. On failure nothing stays."""
        key = f"{EXTRACT_PREFIX}{secrets.token_hex(8)}"
        lease.add_snapshot(key)
        if parent is not None:
            lease.add_layer(parent)
        self.snapshotter.prepare(key, parent, labels={"capsa.extract": name})
        committed = False
        try:
            target = self.snapshotter.apply_target(key)
            from capsa.store.unpack import apply_layer

            result = apply_layer(
                source,
                target.path,
                style=target.style,
                opaque_xattr=target.opaque_xattr,
                lowers=target.lowers,
                id_map=self.id_map,
                ops=self.ops,
                expected_diff_id=diff_id,
                layer=name,
            )
            chain = chain_id(parent, result.diff_id)
            lease.add_layer(chain)
            try:
                self.snapshotter.commit(chain, key)
                committed = True
            except AlreadyExists:
                pass  # another process made the same layer meanwhile: use theirs
            record = self.metadata.put_layer(chain, str(result.diff_id), parent, result.size)
        finally:
            if not committed:
                with contextlib.suppress(NotFound, InUse):
                    self.snapshotter.remove(key)
        return record, result

    # -- images -------------------------------------------------------------------------

    def put_image(
        self,
        image_id: str,
        manifest_digest: str,
        *,
        size: int,
        layers: Sequence[str],
        blobs: Mapping[str, str],
        index_digest: str | None = None,
        names: Iterable[str] = (),
        platform: str = "",
    ) -> ImageRecord:
        """Record an image once everything it references is stored (so a listed image is
        always complete)."""
        for digest in blobs:
            if not self.content.exists(digest):
                raise NotFound(f"blob {digest} of image {image_id} is not in the store")
        for chain in layers:
            if self.layer(chain) is None:
                raise NotFound(f"layer {chain} of image {image_id} is not in the store")
        return self.metadata.put_image(
            image_id,
            manifest_digest,
            size=size,
            layers=layers,
            blobs=blobs,
            index_digest=index_digest,
            names=names,
            platform=platform,
        )

    # -- garbage collection ---------------------------------------------------------------

    def gc(self, *, grace: float | None = None, released: Collection[str] = ()) -> GCReport:
        """Remove blobs, layers, snapshots and ingests that no image and no live lease
        references. Safe to run while other processes pull (see the module's notes).

        `released` are blobs of images just removed: their digests were known, so they
        need no grace period (nothing can be writing them unleased) and go at once."""
        grace = self.gc_grace if grace is None else grace
        report = GCReport()
        now = time.time()
        with self.metadata.transaction():
            report.leases = self.metadata.expire_leases(now)
            marks = self.metadata.marks()
            infos = {info.key: info for info in self.snapshotter.walk()}
            keep = set(marks.layers) | set(marks.snapshots)
            for info in infos.values():
                if info.kind is Kind.COMMITTED:
                    continue
                half_made = info.key.startswith(EXTRACT_PREFIX)
                if not half_made or now - info.created < grace:
                    keep.add(info.key)  # an owner we do not know of (a container) keeps it
            for key in list(keep):
                parent = infos[key].parent if key in infos else None
                while parent is not None and parent not in keep:
                    keep.add(parent)
                    parent = infos[parent].parent if parent in infos else None

            def depth(key: str) -> int:
                count = 0
                parent = infos[key].parent if key in infos else None
                while parent is not None:
                    count += 1
                    parent = infos[parent].parent if parent in infos else None
                return count

            layers = self.metadata.layers()
            parents = {layer.chain_id: layer.parent for layer in layers}
            doomed_layers = [layer.chain_id for layer in layers if layer.chain_id not in keep]
            doomed_layers.sort(key=lambda chain: _chain_depth(chain, parents), reverse=True)
            self.metadata.delete_layers(doomed_layers)
            report.layers = doomed_layers
            doomed = sorted((key for key in infos if key not in keep), key=depth, reverse=True)
            for key in doomed:
                with contextlib.suppress(NotFound, InUse):
                    self.snapshotter.remove(key, defer=True)
                    report.snapshots.append(key)
            for blob in self.content.list():
                if str(blob.digest) in marks.blobs:
                    continue
                if now - blob.modified < grace and str(blob.digest) not in released:
                    continue
                with contextlib.suppress(NotFound):
                    self.content.delete(blob.digest)
                    report.blobs.append(str(blob.digest))
                    report.bytes_freed += blob.size
            report.ingests = self.content.remove_stale_ingests(
                max(grace, INGEST_EXPIRY), keep=marks.ingests
            )
        self.snapshotter.cleanup()
        return report


def _chain_depth(chain: str, parents: Mapping[str, str | None]) -> int:
    count = 0
    parent = parents.get(chain)
    while parent is not None:
        count += 1
        parent = parents.get(parent)
    return count


def owned_by(uid: int, gid: int) -> IdMapper:
    """Every file of a layer owned by one user and group (an unprivileged store)."""

    def mapper(_uid: int, _gid: int) -> tuple[int, int]:
        return uid, gid

    return mapper


def enter_own_user_namespace(uid: int, gid: int) -> None:
    """Become root of a new user namespace (mapped to `uid`/`gid` outside) with its own
    mount namespace: where an unprivileged user may mount overlay (`unshare -rm`)."""
    from capsa.kernel.namespaces import CLONE_NEWNS, CLONE_NEWUSER, unshare

    unshare(CLONE_NEWUSER | CLONE_NEWNS)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)


def overlay_supported(directory: str | os.PathLike[str]) -> tuple[bool, str]:
    """Whether overlayfs works on the file system of `directory`, found by a real mount
    (in a child process with its own mount namespace, so nothing can be left mounted):
    merge two lowers, write through, delete (a whiteout must appear) and replace a
    directory (it must be marked opaque). An unprivileged user's probe runs in a user
    namespace of its own and mounts with `userxattr`, as its store's mounts will be."""
    privileged = os.geteuid() == 0
    uid, gid = os.geteuid(), os.getegid()
    probe = Path(directory) / f".overlay-probe-{secrets.token_hex(4)}"
    try:
        probe.mkdir(mode=0o700)
    except OSError as error:
        return False, f"cannot make a probe directory: {error.strerror}"
    try:
        for name in ("lower1", "lower2", "upper", "work", "merged", "lower2/dir"):
            (probe / name).mkdir()
        (probe / "lower1/a").write_text("a")
        (probe / "lower2/b").write_text("b")
        (probe / "lower2/dir/x").write_text("x")
        options = ",".join(
            (
                *overlay_options(userxattr=not privileged),
                f"lowerdir={probe / 'lower1'}:{probe / 'lower2'}",
                f"upperdir={probe / 'upper'}",
                f"workdir={probe / 'work'}",
            )
        )
        opaque = OPAQUE_XATTR if privileged else USER_OPAQUE_XATTR
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                from capsa.kernel.mounts import MS_PRIVATE, MS_REC, mount
                from capsa.kernel.namespaces import CLONE_NEWNS, unshare

                if privileged:
                    unshare(CLONE_NEWNS)
                else:
                    enter_own_user_namespace(uid, gid)
                mount(None, "/", None, MS_REC | MS_PRIVATE, None)
                merged = probe / "merged"
                mount("overlay", str(merged), "overlay", 0, options)
                (merged / "c").write_text("c")
                (merged / "a").unlink()
                (merged / "dir/x").unlink()
                (merged / "dir").rmdir()
                (merged / "dir").mkdir()
                whiteout = os.lstat(probe / "upper/a")
                ok = (
                    sorted(os.listdir(merged)) == ["b", "c", "dir"]
                    and os.listdir(merged / "dir") == []
                    and (probe / "upper/c").exists()
                    and stat.S_ISCHR(whiteout.st_mode)
                    and whiteout.st_rdev == 0
                    and os.getxattr(probe / "upper/dir", opaque) == b"y"
                )
                code = 0 if ok else 2
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    finally:
        remove_tree(probe)
    how = "overlay works" if privileged else "overlay works (userxattr, in a user namespace)"
    if code == 0:
        return True, how
    return False, "an overlay test mount failed" if code == 1 else "overlay misbehaved"
