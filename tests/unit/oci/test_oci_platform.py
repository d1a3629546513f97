from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index
from capsa.oci.platform import Platform, choose, host_platform, matches, parse_platform

AMD64_HOST = Platform("linux", "amd64")
ARM64_HOST = Platform("linux", "arm64", "v8")


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("amd64", "linux/amd64"),
        ("aarch64", "linux/arm64/v8"),
        ("arm64", "linux/arm64/v8"),
        ("armv8l", "linux/arm/v8"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("armv5tel", "linux/arm/v5"),
        ("i686", "linux/386"),
        ("i386", "linux/386"),
        ("ppc64le", "linux/ppc64le"),
        ("s390x", "linux/s390x"),
        ("riscv64", "linux/riscv64"),
        ("mips64el", "linux/mips64le"),
        ("loongarch64", "linux/loong64"),
    ],
)
def test_host_platform_names(machine: str, expected: str) -> None:
    assert str(host_platform(machine, "Linux")) == expected


def test_host_platform_of_this_machine() -> None:
    platform = host_platform()
    assert platform.os == "linux"
    assert platform == platform.normalize()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/amd64/v1", Platform("linux", "amd64")),
        ("linux/amd64/v3", Platform("linux", "amd64", "v3")),
        ("Linux/x86_64", Platform("linux", "amd64")),
        ("linux/386", Platform("linux", "386")),
        ("linux/i386", Platform("linux", "386")),
        ("linux/arm64", Platform("linux", "arm64", "v8")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm64/8", Platform("linux", "arm64", "v8")),
        ("linux/aarch64", Platform("linux", "arm64", "v8")),
        ("linux/arm64/v9.0", Platform("linux", "arm64", "v9")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/arm/7", Platform("linux", "arm", "v7")),
        ("linux/arm/v6", Platform("linux", "arm", "v6")),
        ("linux/armhf", Platform("linux", "arm", "v7")),
        ("linux/armel", Platform("linux", "arm", "v6")),
        ("linux/ppc64le", Platform("linux", "ppc64le")),
        ("macos/arm64", Platform("darwin", "arm64", "v8")),
        ("windows(10.0.17763.1)/amd64", Platform("windows", "amd64", "", "10.0.17763.1")),
        (" linux/s390x ", Platform("linux", "s390x")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


def test_parse_lone_os_or_architecture_takes_the_rest_from_the_host() -> None:
    assert parse_platform("linux", host=ARM64_HOST) == Platform("linux", "arm64", "v8")
    assert parse_platform("linux", host=AMD64_HOST) == Platform("linux", "amd64")
    assert parse_platform("arm64", host=AMD64_HOST) == Platform("linux", "arm64", "v8")
    assert parse_platform("x86_64", host=ARM64_HOST) == Platform("linux", "amd64")


@pytest.mark.parametrize(
    "text", ["", "/", "linux/", "/amd64", "linux//v7", "a/b/c/d", "linux/amd 64", "linux/$", "foo"]
)
def test_parse_platform_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid platform") as info:
        parse_platform(text, host=AMD64_HOST)
    assert "linux/amd64" in (info.value.hint or "")


def test_platform_json_round_trip_keeps_reserved_fields() -> None:
    document = {
        "architecture": "arm64",
        "os": "linux",
        "os.version": "6.1",
        "os.features": ["a"],
        "variant": "v8",
        "features": ["sse4"],
    }
    platform = Platform.from_json(document)
    assert platform.to_json() == document
    assert platform.extra == {"features": ["sse4"]}
    assert str(platform) == "linux(6.1)/arm64/v8"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"os": "linux"}, "platform.architecture"),
        ({"architecture": "amd64"}, "platform.os"),
        ({"architecture": "", "os": "linux"}, "platform.architecture"),
        ({"architecture": 1, "os": "linux"}, "platform.architecture"),
        ({"architecture": "amd64", "os": "linux", "variant": 7}, "platform.variant"),
        ({"architecture": "amd64", "os": "linux", "os.version": 1}, "platform.os.version"),
        ({"architecture": "amd64", "os": "linux", "os.features": "x"}, "platform.os.features"),
        ({"architecture": "amd64", "os": "linux", "os.features": [1]}, "platform.os.features[0]"),
        ({"architecture": "amd64", "os": "linux", "features": [1]}, "platform.features[0]"),
        ([], "platform"),
    ],
)
def test_platform_json_refused(document: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Platform.from_json(document)
    assert info.value.message.startswith(f"invalid {field}: ")


@pytest.mark.parametrize(
    ("wanted", "candidate", "expected"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "linux/arm64", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/amd64", "linux/386", False),
        ("linux/amd64", "linux/amd64/v2", False),  # needs a newer CPU than asked for
        ("linux/amd64/v3", "linux/amd64/v2", True),
        ("linux/amd64/v3", "linux/amd64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm64/v8", "linux/aarch64", True),
        ("linux/arm64/v9", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64/v9", False),
        ("linux/arm64/v8.2", "linux/arm64/v8.1", True),
        ("linux/arm64/v8", "linux/arm/v7", False),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm/v7", "linux/arm", True),
        ("linux/arm/v7", "linux/arm/v6", True),
        ("linux/arm/v7", "linux/arm/v5", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/ppc64le", "linux/ppc64le", True),
        ("linux/riscv64/rva22u64", "linux/riscv64", True),
        ("linux/riscv64", "linux/riscv64/rva22u64", False),
        ("Linux/X86_64", "linux/amd64", True),
    ],
)
def test_matches(wanted: str, candidate: str, expected: bool) -> None:
    host = AMD64_HOST
    assert matches(parse_platform(wanted, host), parse_platform(candidate, host)) is expected


def test_matches_windows_needs_the_same_build() -> None:
    wanted = Platform("windows", "amd64", os_version="10.0.17763.1234")
    assert matches(wanted, Platform("windows", "amd64", os_version="10.0.17763.5"))
    assert not matches(wanted, Platform("windows", "amd64", os_version="10.0.20348.5"))
    assert matches(wanted, Platform("windows", "amd64"))


def _entry(
    number: int, platform: Platform | None, media_type: str = media_types.OCI_MANIFEST
) -> Descriptor:
    digest = Digest.of(str(number).encode())
    return Descriptor(media_type, digest, 100 + number, platform=platform)


def _index(*entries: Descriptor) -> Index:
    return Index(entries)


def test_choose_exact_variant_before_compatible() -> None:
    v6 = _entry(1, Platform("linux", "arm", "v6"))
    v7 = _entry(2, Platform("linux", "arm", "v7"))
    amd = _entry(3, Platform("linux", "amd64"))
    index = _index(v6, amd, v7)
    assert choose(index, parse_platform("linux/arm/v7")) is v7
    assert choose(index, parse_platform("linux/arm")) is v7
    assert choose(index, parse_platform("linux/arm/v6")) is v6
    assert choose(index, AMD64_HOST) is amd


def test_choose_the_closest_compatible_level() -> None:
    v5 = _entry(1, Platform("linux", "arm", "v5"))
    v6 = _entry(2, Platform("linux", "arm", "v6"))
    assert choose(_index(v5, v6), parse_platform("linux/arm/v7")) is v6
    base = _entry(3, Platform("linux", "amd64"))
    v2 = _entry(4, Platform("linux", "amd64", "v2"))
    v4 = _entry(5, Platform("linux", "amd64", "v4"))
    assert choose(_index(base, v4, v2), parse_platform("linux/amd64/v3")) is v2
    assert choose(_index(base, v4, v2), AMD64_HOST) is base


def test_choose_takes_the_first_of_equals() -> None:
    first = _entry(1, Platform("linux", "arm64"))
    second = _entry(2, Platform("linux", "arm64", "v8"))
    assert choose(_index(first, second), ARM64_HOST) is first


def test_choose_in_a_docker_manifest_list() -> None:
    amd = _entry(1, Platform("linux", "amd64"), media_types.DOCKER_MANIFEST)
    arm = _entry(2, Platform("linux", "arm64", "v8"), media_types.DOCKER_MANIFEST)
    index = Index((amd, arm), media_type=media_types.DOCKER_MANIFEST_LIST)
    assert choose(index, ARM64_HOST) is arm


def test_choose_falls_back_to_an_entry_without_platform() -> None:
    artifact = _entry(1, None, "application/vnd.example+json")
    bare = _entry(2, None)
    other = _entry(3, Platform("linux", "s390x"))
    assert choose(_index(artifact, other, bare), AMD64_HOST) is bare
    exact = _entry(4, Platform("linux", "amd64"))
    assert choose(_index(bare, exact), AMD64_HOST) is exact


def test_choose_returns_nested_indexes() -> None:
    nested = _entry(1, Platform("linux", "amd64"), media_types.OCI_INDEX)
    assert choose(_index(nested), AMD64_HOST) is nested


def test_choose_none_matches_lists_what_is_there() -> None:
    index = _index(
        _entry(1, Platform("linux", "amd64")),
        _entry(2, Platform("linux", "arm64", "v8")),
        _entry(3, Platform("unknown", "unknown")),  # a BuildKit attestation
        _entry(4, Platform("linux", "amd64")),
    )
    with pytest.raises(NotFound, match=r"no image for linux/s390x") as info:
        choose(index, Platform("linux", "s390x"))
    assert info.value.hint == (
        "it has linux/amd64, linux/arm64/v8; choose one of them with --platform"
    )


def test_choose_in_an_empty_index() -> None:
    with pytest.raises(NotFound) as info:
        choose(_index(), AMD64_HOST)
    assert info.value.hint == "the index lists no platforms"
