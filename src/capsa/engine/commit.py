"""`capsa commit`: what a container changed becomes an image (Docker's `commit`): the
image's layers and one more, a config that is the container's (its command, environment,
user, working directory, labels, ports, stop signal, health check) with `--change`
instructions applied, and one more history entry.

The layer is made from the container's writable snapshot without using it up (the
container keeps it), under the container's lock, with the container paused while it is
read when asked (the default, as in Docker). Left out, as Docker's init layer keeps them
out: the empty mount points the engine put in the root for /etc/hosts, /etc/hostname,
/etc/resolv.conf, /proc, /sys and /dev, and the directory holding them when that is only
there for them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from capsa.engine import rootfs
from capsa.engine.changes import ENGINE_MOUNT_POINTS, LowerLayers
from capsa.engine.inspect import effective_command, effective_env
from capsa.engine.state import RUNNING
from capsa.errors import Conflict, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.image_config import ContainerConfig, Healthcheck, History, ImageConfig
from capsa.oci.manifest import Manifest, parse_manifest_or_index
from capsa.store.commit import layer_from_snapshot
from capsa.store.diff import Keep, Select
from capsa.times import rfc3339_nano
from capsa.transport.store.build import apply_changes, record_image
from capsa.transport.store.find import normalize_name

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine
    from capsa.store.fsops import Stat
    from capsa.store.metadata import ImageRecord, LayerRecord
    from capsa.store.store import Store

_MAX_DOCUMENT = 16 << 20
# directories copied up only because a mount point in them was made (/etc)
_MOUNT_POINT_PARENTS = frozenset(os.path.dirname(p) for p in ENGINE_MOUNT_POINTS) - {"/"}


@dataclass(frozen=True)
class CommitOptions:
    reference: str | None = None  # REPOSITORY[:TAG]; None: an image without a name
    author: str = ""
    message: str = ""
    changes: Sequence[str] = ()
    pause: bool = True


@dataclass(frozen=True)
class _Base:
    config: ImageConfig
    manifest: Manifest


def commit_container(engine: Engine, text: str, options: CommitOptions) -> ImageRecord:
    """Make an image of container `text` (see the module's docstring)."""
    record = engine.find(text)
    store = engine.store
    base = _base_image(store, record)
    # everything the user gave is checked before the container is touched
    config = apply_changes(container_config(record, base.config.config), options.changes)
    name = normalize_name(options.reference) if options.reference else None
    with store.lease(labels={"capsa.operation": "commit"}) as lease:
        with engine.lock(record.id):
            record = engine.find(record.id)
            key = rootfs.snapshot_key(record.id)
            parent = store.snapshotter.stat(key).parent
            with _paused(engine, record, options.pause):
                layer, diff = layer_from_snapshot(
                    store, key, parent, lease=lease, select_for=without_mount_points
                )
        document = _image_config(base.config, config, layer, record, options)
        blob = Descriptor(mt.OCI_LAYER, diff.digest, diff.compressed_size)
        image = _record_image(store, base.manifest, document, blob, name)
    attributes = {"comment": options.message, "imageID": image.id, "imageRef": name or ""}
    engine.event("container", "commit", record, **attributes)
    return image


def container_config(record: ContainerRecord, image: ContainerConfig | None) -> ContainerConfig:
    """The image config's `config` a container of `record` would be made from: the image's
    with what `run` changed (Docker commits the container's config, not the image's)."""
    image = image or ContainerConfig()
    spec = record.spec
    entrypoint, cmd = effective_command(record)
    ports = list(image.exposed_ports)
    ports += [p if "/" in p else f"{p}/tcp" for p in spec.network.expose]
    ports += [f"{p.container_port}/{p.protocol}" for p in spec.network.ports]
    healthcheck = image.healthcheck
    if spec.no_healthcheck:
        healthcheck = Healthcheck(test=("NONE",))
    elif spec.healthcheck is not None:
        check = spec.healthcheck
        healthcheck = Healthcheck(
            test=tuple(check.test),
            interval=int(check.interval * 1e9),
            timeout=int(check.timeout * 1e9),
            start_period=int(check.start_period * 1e9),
            start_interval=int(check.start_interval * 1e9),
            retries=check.retries,
        )
    return replace(
        image,
        user=spec.user or image.user,
        exposed_ports=tuple(dict.fromkeys(ports)),
        env=tuple(effective_env(record)),
        entrypoint=tuple(entrypoint) if entrypoint else None,
        cmd=tuple(cmd) if cmd else None,
        working_dir=spec.workdir or image.working_dir,
        labels={**image.labels, **spec.labels},
        stop_signal=spec.stop_signal or image.stop_signal,
        healthcheck=healthcheck,
    )


@contextlib.contextmanager
def without_mount_points(lowers: Sequence[str]) -> Iterator[Select]:
    """Leave out the engine's mount points: an empty file or directory at one of them
    that the image's layers (`lowers`, top first) do not have. Their directory (/etc)
    goes in only with something else in it, unless its owner or mode changed."""
    layers = LowerLayers(lowers)

    def select(name: bytes, st: Stat) -> Keep:
        path = "/" + os.fsdecode(name)
        if path in ENGINE_MOUNT_POINTS:
            empty = st.is_dir or (stat.S_ISREG(st.mode) and st.size == 0)
            if empty and layers.stat(path) is None:
                return Keep.IF_NEEDED if st.is_dir else Keep.SKIP
        elif path in _MOUNT_POINT_PARENTS and st.is_dir:
            lower = layers.stat(path)
            if lower is not None and lower.is_dir and _owner_mode(lower) == _owner_mode(st):
                return Keep.IF_NEEDED
        return Keep.WRITE

    try:
        yield select
    finally:
        layers.close()


def _owner_mode(st: Stat) -> tuple[int, int, int]:
    return st.uid, st.gid, st.mode


@contextlib.contextmanager
def _paused(engine: Engine, record: ContainerRecord, pause: bool) -> Iterator[None]:
    """A running container paused for the `with` (so its files hold still while read)."""
    if not pause or record.state.status != RUNNING:
        yield
        return
    engine.pause(record.id)
    try:
        yield
    finally:
        with contextlib.suppress(Conflict):  # stopped meanwhile: nothing to unpause
            engine.unpause(record.id)


def _base_image(store: Store, record: ContainerRecord) -> _Base:
    try:
        image = store.metadata.get_image(record.image_id)
        config = load_json(store.content.read_verified(image.id, max_size=_MAX_DOCUMENT), "config")
        raw = store.content.read_verified(image.manifest_digest, max_size=_MAX_DOCUMENT)
    except NotFound:
        raise NotFound(
            f"cannot commit container {record.name}: its image {record.image_id} is no "
            "longer in the store",
            hint="load or pull the image again",
        ) from None
    manifest = parse_manifest_or_index(raw)
    assert isinstance(manifest, Manifest)  # the store records images by their manifest
    return _Base(ImageConfig.from_json(config), manifest)


def _image_config(
    base: ImageConfig,
    config: ContainerConfig,
    layer: LayerRecord,
    record: ContainerRecord,
    options: CommitOptions,
) -> ImageConfig:
    created = rfc3339_nano()
    entrypoint, cmd = effective_command(record)
    step = History(
        created=created,
        created_by=" ".join([*entrypoint, *cmd]),
        author=options.author,
        comment=options.message,
    )
    return replace(
        base,
        created=created,
        author=options.author,
        config=config,
        rootfs=replace(base.rootfs, diff_ids=(*base.rootfs.diff_ids, Digest.parse(layer.diff_id))),
        history=(*base.history, step),
    )


def _oci_layer(descriptor: Descriptor) -> Descriptor:
    """A base layer as an OCI manifest lists it (Docker's media types named the OCI way)."""
    kind = descriptor.media_type
    if mt.is_docker(kind) and mt.is_layer(kind) and not mt.is_nondistributable(kind):
        kind = mt.layer_media_type(mt.layer_compression(kind))
    return replace(descriptor, media_type=kind)


def _record_image(
    store: Store, base: Manifest, config: ImageConfig, blob: Descriptor, name: str | None
) -> ImageRecord:
    """The image in the store, as `capsa build` records its images."""
    layers = (*(_oci_layer(d) for d in base.layers), blob)
    return record_image(store, canonical_bytes(config), layers, names=[name] if name else [])
