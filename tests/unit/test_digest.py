from __future__ import annotations

import hashlib

import pytest

from capsa.errors import InvalidArgument
from capsa.oci.digest import Digest

EMPTY256 = "sha256:" + hashlib.sha256(b"").hexdigest()


def test_parse_and_format() -> None:
    digest = Digest.parse(EMPTY256)
    assert digest.algorithm == "sha256"
    assert str(digest) == EMPTY256
    assert digest == EMPTY256
    assert digest == Digest.of(b"")
    assert hash(digest) == hash(Digest.of(b""))
    assert digest.short() == EMPTY256[7:19]


def test_sha512() -> None:
    digest = Digest.of(b"x", "sha512")
    assert Digest.parse(str(digest)) == digest
    assert digest.verify(b"x") and not digest.verify(b"y")


def test_chunks_match_whole() -> None:
    assert Digest.of_chunks([b"ab", b"c"]) == Digest.of(b"abc")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":abc",
        "sha256:" + "A" * 64,
        "sha256:abc",
        "SHA256:" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha+:" + "a" * 10,
        "sha256:" + "a" * 65,
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Digest.parse(text)


def test_unregistered_algorithms_parse_but_cannot_hash() -> None:
    digest = Digest.parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
    assert digest.algorithm == "multihash+base58"
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        digest.hasher()
