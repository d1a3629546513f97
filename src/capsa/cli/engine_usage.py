"""What the engine tells the image commands: which images containers use (`rmi`,
`image prune`), and the Containers and Local Volumes parts of `system df`.

The image commands open the store only; the engine's database sits beside it
(`<root>/storage` and `<root>/engine/engine.db`), and is read only when it exists, so
an image command never creates engine state."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.cli.system import Usage
    from capsa.engine.db import EngineDB
    from capsa.engine.layout import Layout
    from capsa.store.store import Store

CONTAINERS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
    "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
)
CONTAINERS_HEADERS = {
    "ID": "CONTAINER ID",
    "LocalVolumes": "LOCAL VOLUMES",
    "RunningFor": "CREATED",
}
VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUMES_HEADERS = {"Name": "VOLUME NAME"}


@contextlib.contextmanager
def _engine_db(store: Store) -> Iterator[tuple[Layout, EngineDB] | None]:
    from capsa.engine.db import EngineDB
    from capsa.engine.layout import Layout, engine_config

    root = os.path.dirname(os.path.abspath(os.fspath(store.root)))
    layout = Layout(engine_config(root))
    if not os.path.exists(layout.db_path):
        yield None
        return
    db = EngineDB(layout.db_path)
    try:
        yield layout, db
    finally:
        db.close()


def images_in_use(store: Store) -> frozenset[str]:
    """The IDs of the images some container was made from."""
    with _engine_db(store) as opened:
        return frozenset() if opened is None else frozenset(opened[1].image_users())


def container_counts(store: Store) -> dict[str, int]:
    """Image ID -> how many containers use it."""
    with _engine_db(store) as opened:
        if opened is None:
            return {}
        return {image: len(ids) for image, ids in opened[1].image_users().items()}


def engine_usage(store: Store) -> Usage:
    from capsa.cli.gotemplate import Struct
    from capsa.cli.system import Usage, UsageRow, VerboseSection
    from capsa.engine.inspect import ps_row
    from capsa.engine.usage import disk_usage

    with _engine_db(store) as opened:
        if opened is None:
            return Usage(
                rows=(
                    UsageRow("Containers", 0, 0, 0, 0),
                    UsageRow("Local Volumes", 0, 0, 0, 0),
                    UsageRow("Build Cache", 0, 0, 0, 0),
                )
            )
        usage = disk_usage(opened[0], opened[1], store)
    containers = usage.containers
    active = [c for c in containers if c.record.state.active]
    size = sum(c.size for c in containers)
    container_rows = []
    for item in containers:
        row = ps_row(item.record)
        command = row["Command"]
        data = Struct(
            {
                "ID": row["ID"][:12],
                "Image": row["Image"],
                "Command": json.dumps(command[:19] + "…" if len(command) > 20 else command),
                "LocalVolumes": str(item.volumes),
                "Size": human_size(item.size),
                "RunningFor": row["RunningFor"],
                "Status": row["Status"],
                "Names": row["Names"],
            }
        )
        data.type_name = "container"
        container_rows.append(data)
    volume_rows = []
    for volume in usage.volumes:
        data = Struct(
            {
                "Name": volume.volume.record.name,
                "Links": str(volume.links),
                "Size": human_size(volume.size),
            }
        )
        data.type_name = "volume"
        volume_rows.append(data)
    volumes = usage.volumes
    from capsa.build.usage import cache_usage

    cache = cache_usage(store)
    return Usage(
        rows=(
            UsageRow(
                "Containers",
                len(containers),
                len(active),
                size,
                size - sum(c.size for c in active),
            ),
            UsageRow(
                "Local Volumes",
                len(volumes),
                sum(1 for v in volumes if v.links),
                sum(v.size for v in volumes),
                sum(v.size for v in volumes if not v.links),
            ),
            UsageRow("Build Cache", cache.entries, cache.active, cache.size, cache.reclaimable),
        ),
        sections=(
            VerboseSection(
                "Containers space usage:",
                "Containers",
                CONTAINERS_TABLE,
                container_rows,
                CONTAINERS_HEADERS,
            ),
            VerboseSection(
                "Local Volumes space usage:", "Volumes", VOLUMES_TABLE, volume_rows, VOLUMES_HEADERS
            ),
        ),
    )
