"""`Record`: a small value object (slots, equality, repr) that costs next to nothing to
define. dataclasses and typing.NamedTuple each cost a few hundred microseconds per class
at import, which adds up to milliseconds on a container start."""

from __future__ import annotations


class Record:
    """Fields are the subclass's `__slots__`, set once in its `__init__` and not changed
    afterwards."""

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
