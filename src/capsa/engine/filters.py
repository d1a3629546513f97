"""`--filter` for containers, as `docker ps` and `docker container prune` take them:
id, name, label, status, exited, ancestor, before, since, volume, network, health,
expose, publish, until. Several values of one key match any; different keys all."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from capsa.engine.state import STATUSES
from capsa.errors import CapsaError, InvalidArgument

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine

PS_KEYS = (
    "id",
    "name",
    "label",
    "status",
    "exited",
    "ancestor",
    "before",
    "since",
    "volume",
    "network",
    "health",
    "expose",
    "publish",
    "is-task",
)
PRUNE_KEYS = ("until", "label", "label!")
HEALTH = ("starting", "healthy", "unhealthy", "none")


def parse_filters(items: list[str], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key == "label" and value.startswith("!"):
            key, value = "label!", value[1:]
        if not sep or key not in allowed:
            raise InvalidArgument(
                f"invalid filter {item!r}",
                hint=f"use KEY=VALUE with KEY one of {', '.join(allowed)}",
            )
        filters.setdefault(key, []).append(value)
    return filters


def _labels_match(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def container_filter(
    items: list[str], engine: Engine, *, prune: bool = False
) -> Callable[[ContainerRecord], bool]:
    filters = parse_filters(items, PRUNE_KEYS if prune else PS_KEYS)
    for status in filters.get("status", []):
        if status not in STATUSES:
            raise InvalidArgument(f"invalid filter status={status}", hint=", ".join(STATUSES))
    for health in filters.get("health", []):
        if health not in HEALTH:
            raise InvalidArgument(f"invalid filter health={health}", hint=", ".join(HEALTH))
    exited: list[int] = []
    for code in filters.get("exited", []):
        try:
            exited.append(int(code))
        except ValueError:
            raise InvalidArgument(f"invalid filter exited={code}: not a number") from None
    before = [engine.db.find_container(v).created_ns for v in filters.get("before", [])]
    since = [engine.db.find_container(v).created_ns for v in filters.get("since", [])]
    until = [_until(v) for v in filters.get("until", [])]
    ancestors = _ancestor_ids(engine, filters.get("ancestor", []))

    def keep(record: ContainerRecord) -> bool:
        labels = {**(record.image_config.get("Labels") or {}), **record.spec.labels}
        state = record.state
        checks: dict[str, Callable[[str], bool]] = {
            "id": record.id.startswith,
            "name": lambda v: bool(re.search(v, record.name)),
            "label": lambda v: _labels_match(labels, v),
            "label!": lambda v: not _labels_match(labels, v),
            "status": lambda v: state.status == v,
            "exited": lambda v: state.status == "exited" and state.exit_code == int(v),
            "ancestor": lambda v: (
                record.image_id in ancestors.get(v, set()) or fnmatch.fnmatch(record.image_name, v)
            ),
            "volume": lambda v: any(v in (m.source, m.target) for m in record.spec.mounts),
            "network": lambda v: v in (record.spec.network.mode, *record.spec.network.networks),
            "health": lambda v: (state.health.status if state.health else "none") == v,
            "expose": lambda v: any(
                str(p.container_port) == v.split("/")[0] for p in record.spec.network.ports
            ),
            "publish": lambda v: any(
                str(p.host_port) == v.split("/")[0] for p in record.spec.network.ports
            ),
            "is-task": lambda v: v == "false",
            "before": lambda v: True,
            "since": lambda v: True,
            "until": lambda v: True,
        }
        for key, values in filters.items():
            if not any(checks[key](value) for value in values):
                return False
        if any(record.created_ns >= limit for limit in before):
            return False
        if any(record.created_ns <= limit for limit in since):
            return False
        return not any(record.created_ns >= limit for limit in until)

    return keep


def _until(text: str) -> int:
    """until=TIMESTAMP|DURATION (Docker: a time, or a duration ago)."""
    from capsa.times import parse_time_arg

    return parse_time_arg(text, "until")


def _ancestor_ids(engine: Engine, names: list[str]) -> dict[str, set[str]]:
    from capsa.transport.store.find import find_image

    ids: dict[str, set[str]] = {}
    for name in names:
        try:
            record, _ = find_image(engine.store.metadata, name)
        except CapsaError:  # an image that is gone still matches by name
            ids[name] = set()
            continue
        ids[name] = {record.id}
    return ids
