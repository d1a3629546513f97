"""What the image commands share: argument parsing that raises instead of exiting, the
store they work on (`--root`, else $CAPSA_ROOT, else the Config default), and Docker's
ways of printing names, sizes, times and tables."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from capsa.config import Config
from capsa.errors import InvalidArgument

if TYPE_CHECKING:
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store

ROOT_ENV = "CAPSA_ROOT"
NONE = "<none>"


class Parser(argparse.ArgumentParser):
    """argparse that raises InvalidArgument (exit 125, one line) instead of exiting 2."""

    def __init__(self, prog: str, description: str = "") -> None:
        super().__init__(prog=f"capsa {prog}", description=description, allow_abbrev=False)
        self.add_argument(
            "--root", help=f"the capsa root directory (default ${ROOT_ENV} or the system's)"
        )

    def error(self, message: str) -> NoReturn:
        raise InvalidArgument(f"{message}", hint=f"see {self.prog} --help")


def store_root(root: str | None) -> Path:
    """The image store's directory: `<root>/storage` of the capsa root."""
    given = root or os.environ.get(ROOT_ENV) or None
    return Config.default(root=given).root / "storage"


def open_store(root: str | None) -> Store:
    from capsa.store.store import Store

    return Store(store_root(root))


# -- names ------------------------------------------------------------------------------


def familiar(name: str) -> str:
    """`docker.io/library/busybox:latest` -> `busybox:latest`."""
    from capsa.oci.reference import parse_exact

    try:
        return parse_exact(name).familiar()
    except InvalidArgument:
        return name


def split_name(name: str) -> tuple[str, str]:
    """A stored name as the REPOSITORY and TAG columns show it."""
    from capsa.oci.reference import parse_exact

    try:
        reference = parse_exact(name)
    except InvalidArgument:
        return name, NONE
    return reference.familiar_name(), reference.tag or NONE


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


# -- sizes and times (go-units, as Docker prints them) -----------------------------------

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision(size, precision): decimal units, `4.26MB`
    (`docker images` uses 3 digits, `docker system df` 4)."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: `Less than a second`, `About an hour`, `3 weeks`."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = seconds / 60
    if round(minutes) == 1:
        return "About a minute"
    if minutes < 60:
        return f"{int(minutes)} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def parse_time(text: str) -> float | None:
    """An RFC 3339 time of an image config, as seconds since the epoch."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def since(text: str, now: float | None = None) -> str:
    created = parse_time(text)
    if created is None:
        return "N/A"
    now = time.time() if now is None else now
    return f"{human_duration(max(0.0, now - created))} ago"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Docker's tabwriter (minwidth 10, padding 3): columns padded, the last one not."""
    if not rows:
        return ""
    widths = [0] * max(len(row) for row in rows)
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in rows:
        cells = [cell.ljust(max(10, widths[i] + 3)) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + row[-1])
    return "\n".join(lines) + "\n"


# -- image documents ---------------------------------------------------------------------


def image_config(store: Store, record: ImageRecord) -> dict[str, Any]:
    from capsa.oci.canonical import load_json

    return load_json(store.content.read_verified(record.id, max_size=16 << 20), "image config")


def inspect_document(store: Store, record: ImageRecord) -> dict[str, Any]:
    """`docker image inspect`'s shape for one image."""
    config = image_config(store, record)
    repo_digests: list[str] = []
    for name in record.names:
        repository = split_name(name)[0]
        entry = f"{repository}@{record.manifest_digest}"
        if entry not in repo_digests:
            repo_digests.append(entry)
    rootfs = config.get("rootfs")
    rootfs = rootfs if isinstance(rootfs, dict) else {}
    document: dict[str, Any] = {
        "Id": record.id,
        "RepoTags": [familiar(name) for name in record.names],
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": _last_comment(config),
        "Created": config.get("created", ""),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": record.size,
        "GraphDriver": {"Name": store.driver, "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(rootfs.get("diff_ids", []))},
        "Metadata": {"LastTagTime": _iso(record.created)},
    }
    if config.get("variant"):
        document["Variant"] = config["variant"]
    return document


def _last_comment(config: dict[str, Any]) -> str:
    history = config.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        comment = history[-1].get("comment", "")
        return comment if isinstance(comment, str) else ""
    return ""


def _iso(seconds: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
