"""`capsa events`: the engine's event table as Docker's `events` shows it: a window of
past events (`since`, `until`), then new ones as they are recorded until `until` or
until the caller stops; filtered as Docker filters them; as Docker's `events.Message`
documents or its one-line text."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from capsa.engine.db import EngineDB, Event
from capsa.errors import InvalidArgument
from capsa.times import rfc3339_nano

FILTER_KEYS = ("container", "event", "image", "label", "type")
POLL_SECONDS = 0.1


def event_document(event: Event) -> dict[str, Any]:
    """Docker's events.Message (with the legacy status/id/from of container events)."""
    document: dict[str, Any] = {}
    if event.type == "container":
        document["status"] = event.action
        document["id"] = event.actor
        document["from"] = event.attributes.get("image", "")
    document.update(
        {
            "Type": event.type,
            "Action": event.action,
            "Actor": {"ID": event.actor, "Attributes": dict(sorted(event.attributes.items()))},
            "scope": "local",
            "time": event.time_ns // 10**9,
            "timeNano": event.time_ns,
        }
    )
    return document


def event_line(event: Event) -> str:
    """Docker's text: `TIME TYPE ACTION ID (k=v, ...)`, the attributes sorted by key."""
    line = f"{rfc3339_nano(event.time_ns)} {event.type} {event.action} {event.actor}"
    if event.attributes:
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
        line += f" ({pairs})"
    return line


@dataclass
class EventFilter:
    """Docker's: the values of one key are alternatives, different keys must all match."""

    wanted: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: Sequence[str]) -> EventFilter:
        wanted: dict[str, list[str]] = {}
        for text in texts:
            key, sep, value = text.partition("=")
            if not sep or not value:
                raise InvalidArgument(
                    f"bad format of filter {text!r}", hint="expected KEY=VALUE, e.g. type=container"
                )
            if key not in FILTER_KEYS:
                raise InvalidArgument(
                    f"invalid filter {key!r}", hint=f"use one of {', '.join(FILTER_KEYS)}"
                )
            wanted.setdefault(key, []).append(value)
        return cls(wanted)

    def __call__(self, event: Event) -> bool:
        return all(self._matches(key, values, event) for key, values in self.wanted.items())

    @staticmethod
    def _matches(key: str, values: list[str], event: Event) -> bool:
        attributes = event.attributes
        if key == "type":
            return event.type in values
        if key == "event":
            # exec_start: sh -c ... is matched by exec_start, as in Docker
            action = event.action.split(":", 1)[0]
            return event.action in values or action in values
        if key == "container":
            if event.type != "container":
                return False
            return any(
                event.actor.startswith(v) or attributes.get("name") == v for v in values
            )
        if key == "image":
            image = attributes.get("image", "")
            return any(v in (image, event.actor) or image == f"{v}:latest" for v in values)
        # label=KEY or label=KEY=VALUE
        for value in values:
            name, sep, expected = value.partition("=")
            if name in attributes and (not sep or attributes[name] == expected):
                return True
        return False


def events(
    db: EngineDB,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    keep: Callable[[Event], bool] = lambda event: True,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """The events from `since_ns` (without it: only new ones, unless `until_ns` asks for
    a window, which then starts at the oldest kept), then new ones as they come, up to
    `until_ns` (without it: for ever)."""
    last = db.last_event_seq()
    if since_ns is not None or until_ns is not None:
        for event in db.events_since(since_ns or 0):
            if event.seq > last:
                break
            if until_ns is not None and event.time_ns > until_ns:
                return
            if keep(event):
                yield event
    while until_ns is None or time.time_ns() <= until_ns:
        batch = db.events_after(last)
        for event in batch:
            last = event.seq
            if until_ns is not None and event.time_ns > until_ns:
                return
            if keep(event):
                yield event
        if not batch:
            sleep(POLL_SECONDS)
