"""Making images straight into the store, with no source archive: `capsa import` (a root
filesystem tarball becomes a one-layer image) and the embedded default image (Debian's
static busybox, built reproducibly: the same bytes and digests every time)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.image_config import ContainerConfig, History, ImageConfig, RootFS
from capsa.oci.manifest import Manifest
from capsa.oci.media_types import Compression
from capsa.oci.platform import Platform, host_platform
from capsa.times import rfc3339
from capsa.transport import compression
from capsa.transport.store.find import normalize_name
from capsa.transport.types import CHUNK

if TYPE_CHECKING:
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store
    from capsa.transport.types import BlobReader

DEFAULT_IMAGE = "localhost/busybox:latest"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def commit_layer_image(
    store: Store,
    layer: IO[bytes],
    *,
    config: ContainerConfig,
    created: str,
    created_by: str,
    comment: str = "",
    name: str | None = None,
    platform: Platform | None = None,
) -> ImageRecord:
    """Record a one-layer image whose layer is the plain tar in `layer` (seekable), for
    `platform` (default: this host's)."""
    layer.seek(0)
    hasher = Digest("sha256", "0" * 64).hasher()
    size = 0
    while chunk := layer.read(CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    diff_id = Digest("sha256", hasher.hexdigest())
    platform = (platform or host_platform()).normalize()
    image_config = ImageConfig(
        platform.architecture,
        platform.os,
        variant=platform.variant,
        created=created,
        config=config,
        rootfs=RootFS((diff_id,)),
        history=(History(created=created, created_by=created_by, comment=comment),),
    )
    layer_descriptor = Descriptor(mt.OCI_LAYER, diff_id, size)
    layer.seek(0)
    return record_image(
        store,
        canonical_bytes(image_config),
        (layer_descriptor,),
        names=[name] if name else [],
        new_blobs={layer_descriptor.digest: layer},
    )


def record_image(
    store: Store,
    config_bytes: bytes,
    layers: Sequence[Descriptor],
    *,
    names: Sequence[str] = (),
    new_blobs: Mapping[Digest, BlobReader] | None = None,
) -> ImageRecord:
    """Record the image of this config and these layers (an OCI manifest of them) under
    `names` (normalised), through the store destination: all of it or nothing. Layer
    blobs come from `new_blobs` where given, else must be in the store already (a build's
    or a commit's layers, made in place). An image recorded already (a fully cached
    build) is only named: nothing is written."""
    config_descriptor = Descriptor.from_bytes(mt.OCI_CONFIG, config_bytes)
    manifest_bytes = canonical_bytes(Manifest(config_descriptor, tuple(layers)))
    manifest_digest = Digest.of(manifest_bytes)
    there = _recorded(store, str(config_descriptor.digest), str(manifest_digest), names)
    if there is not None:
        return there
    from capsa.transport.store.dest import StoreDestination  # what writing needs, only

    destination = StoreDestination(store, names[0] if names else None)
    try:
        for descriptor in layers:
            stream = (new_blobs or {}).get(descriptor.digest)
            if stream is not None:
                destination.put_blob(descriptor, stream)
            elif not destination.has_blob(descriptor.digest):
                raise NotFound(f"layer blob {descriptor.digest} is not in the store")
        destination.put_blob(config_descriptor, io.BytesIO(config_bytes))
        destination.put_manifest(manifest_bytes, mt.OCI_MANIFEST, manifest_digest)
        destination.commit()
    except BaseException:
        destination.abort()
        raise
    destination.close()
    record = destination.committed[-1]
    for name in names[1:]:
        store.metadata.tag(normalize_name(name), record.id)
    return store.metadata.get_image(record.id) if len(names) > 1 else record


def _recorded(
    store: Store, image_id: str, manifest_digest: str, names: Sequence[str]
) -> ImageRecord | None:
    """The image if the store has it with this manifest, named `names`; None when it is
    not there (or went while being named)."""
    metadata = store.metadata
    try:
        if metadata.get_image(image_id).manifest_digest != manifest_digest:
            return None
        for name in names:
            metadata.tag(normalize_name(name), image_id)
        return metadata.get_image(image_id)
    except NotFound:
        return None


def import_tarball(
    store: Store,
    stream: BlobReader,
    *,
    name: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    source: str = "",
    now: float | None = None,
    platform: Platform | None = None,
) -> ImageRecord:
    """`docker import`: a root filesystem tarball (plain, gzip or zstd) as an image."""
    config = apply_changes(ContainerConfig(env=(DEFAULT_PATH,)), changes)
    with tempfile.TemporaryFile() as raw:
        while chunk := stream.read(CHUNK):
            raw.write(chunk)
        raw.seek(0)
        kind = compression.detect(raw.read(compression.MAGIC_LENGTH))
        raw.seek(0)
        created = rfc3339(time.time() if now is None else now)
        by = f"capsa import {source}".rstrip()
        if kind is Compression.NONE:
            return commit_layer_image(
                store,
                raw,
                config=config,
                created=created,
                created_by=by,
                comment=message,
                name=name,
                platform=platform,
            )
        with tempfile.TemporaryFile() as plain:
            try:
                reader = compression.decompressed(raw, kind)
                while chunk := reader.read(CHUNK):
                    plain.write(chunk)
            except compression.CorruptStream as exc:
                raise InvalidArgument(f"{source or 'input'} is not valid {kind}: {exc}") from None
            return commit_layer_image(
                store,
                plain,
                config=config,
                created=created,
                created_by=by,
                comment=message,
                name=name,
                platform=platform,
            )


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """Dockerfile instructions as `docker import --change` and `docker commit --change`
    take them: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL,
    ONBUILD."""
    for change in changes:
        instruction, _, rest = change.strip().partition(" ")
        rest = rest.strip()
        word = instruction.upper()
        if not rest:
            raise InvalidArgument(f"invalid --change {change!r}: {word} needs an argument")
        if word in ("CMD", "ENTRYPOINT"):
            args = _command(rest)
            if word == "CMD":
                config = replace(config, cmd=args)
            else:
                config = replace(config, entrypoint=args)
        elif word == "ENV":
            pairs = _pairs(rest, change)
            env = [e for e in config.env if e.partition("=")[0] not in dict(pairs)]
            config = replace(config, env=(*env, *(f"{k}={v}" for k, v in pairs)))
        elif word == "LABEL":
            config = replace(config, labels={**config.labels, **dict(_pairs(rest, change))})
        elif word == "WORKDIR":
            config = replace(config, working_dir=rest)
        elif word == "USER":
            config = replace(config, user=rest)
        elif word == "STOPSIGNAL":
            config = replace(config, stop_signal=rest)
        elif word == "EXPOSE":
            ports = [p if "/" in p else f"{p}/tcp" for p in rest.split()]
            config = replace(config, exposed_ports=(*config.exposed_ports, *ports))
        elif word == "ONBUILD":
            config = replace(config, on_build=(*config.on_build, rest))
        elif word == "VOLUME":
            volumes = _json_list(rest) if rest.startswith("[") else tuple(rest.split())
            config = replace(config, volumes=(*config.volumes, *volumes))
        else:
            raise InvalidArgument(
                f"invalid --change {change!r}: {word} cannot be changed this way",
                hint="use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME "
                "or WORKDIR",
            )
    return config


def _json_list(text: str) -> tuple[str, ...]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument(f"invalid --change argument {text!r}: not a JSON list of strings")
    return tuple(value)


def _command(text: str) -> tuple[str, ...]:
    if text.startswith("["):
        return _json_list(text)
    return ("/bin/sh", "-c", text)


def _pairs(text: str, change: str) -> list[tuple[str, str]]:
    import shlex

    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid --change {change!r}: {exc}") from None
    if len(words) == 2 and "=" not in words[0]:  # the old `ENV KEY value` form
        return [(words[0], words[1])]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"invalid --change {change!r}: {word!r} is not KEY=VALUE")
        pairs.append((key, value))
    return pairs


# -- the embedded default image ---------------------------------------------------------


def _walk(root: str) -> Iterator[str]:
    """Every path under `root`, relative, parents before children, in sorted order."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        relative = os.path.relpath(directory, root)
        if relative != ".":
            yield relative
        for name in sorted(files):
            yield os.path.normpath(os.path.join(relative, name))
        for name in list(dirs):
            if os.path.islink(os.path.join(directory, name)):
                dirs.remove(name)
                yield os.path.normpath(os.path.join(relative, name))


def reproducible_tar(root: str, out: IO[bytes], mtime: int) -> None:
    """A tar of `root` that depends only on the files' contents, types and kinds of mode:
    sorted entries, owner root, fixed mtimes and normalised permissions."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in sorted(_walk(root), key=lambda p: p.split(os.sep)):
            path = os.path.join(root, relative)
            info = tar.gettarinfo(path, arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                info.mode = 0o1777 if relative == "tmp" else 0o755
            elif stat.S_ISLNK(st.st_mode):
                info.mode = 0o777
            else:
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
            if info.isfile():
                with open(path, "rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)


def default_image(store: Store, name: str = DEFAULT_IMAGE) -> ImageRecord:
    """`localhost/busybox:latest` from the host's static busybox, without a registry.
    Times are the busybox binary's (fixed by its package), so the image's digest is the
    same every time on a host with the same busybox."""
    from capsa.runtime.busybox_bundle import find_busybox, make_rootfs

    mtime = int(os.stat(find_busybox()).st_mtime)
    workdir = tempfile.mkdtemp(prefix="capsa-busybox-")
    try:
        rootfs = os.path.join(workdir, "rootfs")
        make_rootfs(rootfs)
        with tempfile.TemporaryFile() as layer:
            reproducible_tar(rootfs, layer, mtime)
            return commit_layer_image(
                store,
                layer,
                config=ContainerConfig(env=(DEFAULT_PATH,), cmd=("sh",)),
                created=rfc3339(mtime),
                created_by="capsa image default (Debian busybox-static)",
                name=name,
            )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
