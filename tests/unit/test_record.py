"""capsa._record.Record: the NamedTuple stand-in of the container-start path."""

from __future__ import annotations

import pytest

from capsa._record import Record


class Point(Record):
    __slots__ = ("label", "x", "y")

    def __init__(self, x: int, y: int = 0, label: str = "") -> None:
        self.x = x
        self.y = y
        self.label = label


def test_equality_and_hash_follow_the_fields() -> None:
    assert Point(1, 2) == Point(1, 2, "")
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1) != (1, 0, "")  # not a tuple


def test_fields_are_read_only() -> None:
    point = Point(1)
    with pytest.raises(AttributeError):
        point.x = 2
    with pytest.raises(AttributeError):
        del point.y
    assert point.x == 1


def test_replace_copies_with_changes() -> None:
    point = Point(1, 2, "a")
    moved = point._replace(y=5)
    assert moved == Point(1, 5, "a")
    assert point == Point(1, 2, "a")
    with pytest.raises(ValueError, match="z"):
        point._replace(z=1)


def test_repr_names_the_fields() -> None:
    assert repr(Point(1, 2, "a")) == "Point(label='a', x=1, y=2)"
