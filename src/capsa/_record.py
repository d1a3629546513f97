"""`Record`: a small immutable value object (slots, equality, hash, repr, `_replace`) that
costs next to nothing to define and to import.

It stands in for `typing.NamedTuple` and `dataclasses.dataclass` on the container-start
path: importing `typing` or `dataclasses` costs milliseconds, and each NamedTuple or
dataclass class a few hundred microseconds more.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self


class Record:
    """Fields are the subclass's `__slots__`, set once in its `__init__` (whose parameters
    bear the fields' names) and read-only afterwards, as a NamedTuple's are."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, name) for name in self.__slots__)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def _replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (NamedTuple's `_replace`)."""
        unknown = changes.keys() - set(self.__slots__)
        if unknown:
            raise ValueError(f"got unexpected field names: {sorted(unknown)!r}")
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)

    if not TYPE_CHECKING:  # hidden from mypy, which would then allow any attribute name

        def __setattr__(self, name: str, value: object) -> None:
            if hasattr(self, name):
                raise AttributeError(f"{type(self).__name__}.{name} cannot be changed")
            object.__setattr__(self, name, value)

        def __delattr__(self, name: str) -> None:
            raise AttributeError(f"{type(self).__name__}.{name} cannot be deleted")
