from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument
from capsa.transport.errors import UnknownTransport
from capsa.transport.reference import TransportReference, parse_transport_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:/srv/layout", TransportReference("oci", "/srv/layout")),
        ("oci:/srv/layout:v1", TransportReference("oci", "/srv/layout", "v1")),
        (
            "oci:rel/dir:example.com/app:1.0",
            TransportReference("oci", "rel/dir", "example.com/app:1.0"),
        ),
        ("oci:/srv/layout:", TransportReference("oci", "/srv/layout")),
        ("oci-archive:/tmp/a.tar:v1", TransportReference("oci-archive", "/tmp/a.tar", "v1")),
        ("oci-archive:/tmp/a.tar:@2", TransportReference("oci-archive", "/tmp/a.tar", "@2")),
        (
            "docker-archive:/tmp/a.tar:busybox",
            TransportReference("docker-archive", "/tmp/a.tar", "docker.io/library/busybox:latest"),
        ),
        (
            "docker-archive:/tmp/a.tar:localhost:5000/x/y:2",
            TransportReference("docker-archive", "/tmp/a.tar", "localhost:5000/x/y:2"),
        ),
        ("docker-archive:/tmp/a.tar:@0", TransportReference("docker-archive", "/tmp/a.tar", "@0")),
    ],
)
def test_parses(text: str, expected: TransportReference) -> None:
    assert parse_transport_reference(text) == expected


def test_source_index_and_str() -> None:
    parsed = parse_transport_reference("docker-archive:/a.tar:@3")
    assert parsed.source_index == 3
    assert str(parsed) == "docker-archive:/a.tar:@3"
    assert parse_transport_reference("oci:/x:v1").source_index is None
    assert str(parse_transport_reference("oci:/x")) == "oci:/x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/just/a/path", "no transport"),
        ("tarball:/x", "unknown transport 'tarball'"),
        ("containers-storage:busybox", "unknown transport"),
    ],
)
def test_unknown_transports(text: str, message: str) -> None:
    with pytest.raises(UnknownTransport, match=message) as info:
        parse_transport_reference(text)
    assert "oci, oci-archive, docker-archive, docker" in str(info.value)


def test_docker_transport_is_a_normalised_image_reference() -> None:
    parsed = parse_transport_reference("docker://busybox")
    assert parsed.transport == "docker"
    assert parsed.path == "docker.io/library/busybox:latest"
    assert str(parsed) == "docker://docker.io/library/busybox:latest"
    assert parse_transport_reference("docker://localhost:5000/a/b:v1").path == (
        "localhost:5000/a/b:v1"
    )
    with pytest.raises(InvalidArgument, match="write docker://NAME"):
        parse_transport_reference("docker:busybox")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oci:", "the path is empty"),
        ("oci:/x:bad ref", "invalid OCI layout ref"),
        ("oci:/x:-v1", "invalid OCI layout ref"),
        ("docker-archive:/x:UPPER", "must be lowercase"),
        (
            "docker-archive:/x:busybox@sha256:" + "a" * 64,
            "a digest cannot name an image",
        ),
    ],
)
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_transport_reference(text)
