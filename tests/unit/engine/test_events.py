"""`capsa events`: Docker's text and documents, filters, and the time window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from capsa.engine.db import EngineDB, Event
from capsa.engine.events import EventFilter, event_document, event_line, events
from capsa.errors import InvalidArgument

ID = "c0ffee" + "0" * 58
START = Event(7, 1_796_606_149_772_888_746, "container", "start", ID,
              {"name": "web", "image": "busybox", "tier": "front"})


def test_text_line_is_dockers() -> None:
    assert event_line(START) == (
        f"2026-12-07T01:15:49.772888746Z container start {ID} "
        "(image=busybox, name=web, tier=front)"
    )


def test_document_has_dockers_fields() -> None:
    document = event_document(START)
    assert list(document) == [
        "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"
    ]
    assert document["Actor"] == {
        "ID": ID, "Attributes": {"image": "busybox", "name": "web", "tier": "front"}
    }
    assert (document["time"], document["timeNano"]) == (1_796_606_149, START.time_ns)
    assert document["scope"] == "local" and document["from"] == "busybox"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], True),
        (["container=web"], True),
        (["container=c0ffee"], True),
        (["container=db"], False),
        (["container=db", "container=web"], True),  # one key: any value
        (["event=start", "type=container"], True),
        (["event=start", "type=image"], False),  # two keys: both
        (["image=busybox"], True),
        (["image=alpine"], False),
        (["label=tier"], True),
        (["label=tier=front"], True),
        (["label=tier=back"], False),
    ],
)
def test_filters(filters: list[str], expected: bool) -> None:
    assert EventFilter.parse(filters)(START) is expected


def test_bad_filters() -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        EventFilter.parse(["colour=red"])
    with pytest.raises(InvalidArgument, match="bad format"):
        EventFilter.parse(["container"])


def test_window_and_follow(tmp_path: Path) -> None:
    db = EngineDB(str(tmp_path / "engine.db"))
    try:
        db.add_event("container", "create", "a", {"name": "one"})
        middle = time.time_ns()
        db.add_event("container", "start", "a", {"name": "one"})
        db.add_event("container", "die", "a", {"name": "one"})
        past = [e.action for e in events(db, since_ns=middle, until_ns=time.time_ns())]
        assert past == ["start", "die"]
        until_only = [e.action for e in events(db, until_ns=middle)]
        assert until_only == ["create"]
        # following: what is recorded after it began, and nothing older
        def record_one(_: float) -> None:
            db.add_event("container", "destroy", "a", {"name": "one"})

        followed = events(db, sleep=record_one)
        assert next(followed).action == "destroy"
    finally:
        db.close()
