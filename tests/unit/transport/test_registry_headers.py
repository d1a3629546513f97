"""WWW-Authenticate, Link and Range parsing; reference to registry mapping."""

from __future__ import annotations

import pytest

from capsa.oci.digest import Digest
from capsa.transport.registry.client import referrers_tag
from capsa.transport.registry.headers import media_type, next_link, parse_challenges, parse_range
from capsa.transport.registry.names import (
    api_host,
    canonical_host,
    is_loopback,
    is_short_name,
)


def test_docker_hub_bearer_challenge() -> None:
    [challenge] = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.params["service"] == "registry.docker.io"
    assert challenge.params["scope"] == "repository:library/busybox:pull"


def test_several_challenges_quotes_and_escapes() -> None:
    challenges = parse_challenges(
        'Basic realm="a, \\"quoted\\" realm", '
        'Bearer realm=https://x/token , error="insufficient_scope"'
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == 'a, "quoted" realm'
    assert challenges[1].realm == "https://x/token"
    assert challenges[1].params["error"] == "insufficient_scope"


def test_token68_and_garbage() -> None:
    assert [c.scheme for c in parse_challenges("Negotiate abc==, Basic realm=r")] == [
        "negotiate",
        "basic",
    ]
    assert parse_challenges("") == []
    assert parse_challenges("=== nonsense") == []


def test_next_link() -> None:
    base = "https://r.example/v2/app/tags/list?n=2"
    header = '</v2/app/tags/list?last=b&n=2>; rel="next"'
    assert next_link(header, base) == "https://r.example/v2/app/tags/list?last=b&n=2"
    assert next_link('<https://other/x>; rel="prev"', base) is None
    assert next_link(None, base) is None


def test_ranges_and_media_types() -> None:
    assert parse_range("0-1023") == (0, 1023)
    assert parse_range("bytes 100-199/200") == (100, 199)
    assert parse_range("bytes=5-") is None
    assert parse_range("9-3") is None
    assert media_type("application/vnd.oci.image.index.v1+json; charset=utf-8") == (
        "application/vnd.oci.image.index.v1+json"
    )


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("docker.io", "docker.io"),
        ("http://localhost:5000/", "localhost:5000"),
        ("quay.io", "quay.io"),
    ],
)
def test_canonical_hosts(text: str, host: str) -> None:
    assert canonical_host(text) == host


def test_api_hosts_and_loopback() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("localhost:5000") == "localhost:5000"
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5")
    assert not is_loopback("registry.example.com:5000")
    assert not is_loopback("10.0.0.1")


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("busybox", True),
        ("user/app:1", True),
        ("localhost/app", False),
        ("localhost:5000/app", False),
        ("quay.io/org/app", False),
        ("Upper/app", False),
    ],
)
def test_short_names(text: str, short: bool) -> None:
    assert is_short_name(text) is short


def test_referrers_tag_schema() -> None:
    assert referrers_tag(Digest.parse("sha256:" + "a" * 64)) == "sha256-" + "a" * 64
