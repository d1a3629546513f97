"""Content digests as the OCI image-spec defines them: `algorithm:encoded`.

sha256 and sha512 are registered and verified; other well-formed algorithms parse but
cannot be computed here. Pure data and hashlib, no I/O beyond what callers stream in.
"""

from __future__ import annotations

import hashlib

from capsa.errors import InvalidArgument

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterable

# algorithm -> length of the lowercase hex encoding
REGISTERED = {"sha256": 64, "sha512": 128}
_ALGORITHM_COMPONENT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALGORITHM_SEPARATORS = frozenset("+._-")
_ENCODED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=_-")
_HEX = frozenset("0123456789abcdef")


class Digest:
    """A parsed, validated digest. Compare and hash as its string form."""

    __slots__ = ("algorithm", "encoded")

    def __init__(self, algorithm: str, encoded: str) -> None:
        self.algorithm = algorithm
        self.encoded = encoded

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, encoded = text.partition(":")
        if not sep or not algorithm or not encoded:
            raise InvalidArgument(f"invalid digest {text!r}: expected algorithm:hex")
        _check_algorithm(text, algorithm)
        if not _ENCODED.issuperset(encoded):
            raise InvalidArgument(f"invalid digest {text!r}: bad characters in the encoded part")
        length = REGISTERED.get(algorithm)
        if length is not None and (len(encoded) != length or not _HEX.issuperset(encoded)):
            raise InvalidArgument(
                f"invalid digest {text!r}: {algorithm} needs {length} lowercase hex characters"
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    @classmethod
    def of_chunks(cls, chunks: Iterable[bytes], algorithm: str = "sha256") -> Digest:
        hasher = new_hasher(algorithm)
        for chunk in chunks:
            hasher.update(chunk)
        return cls(algorithm, hasher.hexdigest())

    def hasher(self) -> hashlib._Hash:
        return new_hasher(self.algorithm)

    def verify(self, data: bytes) -> bool:
        return Digest.of(data, self.algorithm) == self

    @property
    def hex(self) -> str:
        return self.encoded

    def short(self, length: int = 12) -> str:
        return self.encoded[:length]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def __repr__(self) -> str:
        return f"Digest({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Digest):
            return (self.algorithm, self.encoded) == (other.algorithm, other.encoded)
        if isinstance(other, str):
            return str(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


def _check_algorithm(text: str, algorithm: str) -> None:
    # algorithm ::= component (separator component)*, component ::= [a-z0-9]+
    component = ""
    for char in algorithm:
        if char in _ALGORITHM_COMPONENT:
            component += char
        elif char in _ALGORITHM_SEPARATORS and component:
            component = ""
        else:
            raise InvalidArgument(f"invalid digest {text!r}: bad algorithm {algorithm!r}")
    if not component:
        raise InvalidArgument(f"invalid digest {text!r}: bad algorithm {algorithm!r}")


def new_hasher(algorithm: str) -> hashlib._Hash:
    if algorithm not in REGISTERED:
        raise InvalidArgument(
            f"unsupported digest algorithm {algorithm!r}", hint="use sha256 or sha512"
        )
    return hashlib.new(algorithm)
