"""Image references, against the tables of distribution/reference's reference_test.go and
normalize_test.go (the behaviour Docker's own parser has)."""

from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument
from capsa.oci.digest import Digest
from capsa.oci.reference import (
    Reference,
    is_full_id,
    looks_like_id,
    parse_docker_ref,
    parse_exact,
    parse_normalized_named,
    parse_reference,
    tag_name_only,
)

F64 = "f" * 64
SHA256 = "sha256:" + F64
SHA512 = "sha512:" + "f" * 128
HEX_ID = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
BUSYBOX_DIGEST = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"

# reference_test.go TestReferenceParse: input -> (domain, repository (= name), tag, digest)
PARSE_VALID = [
    ("test_com", "", "test_com", None, None),
    ("test.com:tag", "", "test.com", "tag", None),
    ("test.com:5000", "", "test.com", "5000", None),
    ("test.com/repo:tag", "test.com", "test.com/repo", "tag", None),
    ("test:5000/repo", "test:5000", "test:5000/repo", None, None),
    ("test:5000/repo:tag", "test:5000", "test:5000/repo", "tag", None),
    (f"test:5000/repo@{SHA256}", "test:5000", "test:5000/repo", None, SHA256),
    (f"test:5000/repo:tag@{SHA256}", "test:5000", "test:5000/repo", "tag", SHA256),
    ("lowercase:Uppercase", "", "lowercase", "Uppercase", None),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        "a",
        "a/" * 127 + "a",
        "tag-puts-this-over-max",
        None,
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "sub-dom1.foo.com/bar/baz/quux",
        None,
        None,
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "sub-dom1.foo.com/bar/baz/quux",
        "some-long-tag",
        None,
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "b.gcr.io/test.example.com/my-app",
        "test.example.com",
        None,
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", None),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512}",
        "xn--7o8h.com",
        "xn--7o8h.com/myimage",
        "xn--7o8h.com",
        SHA512,
    ),
    ("foo_bar.com:8080", "", "foo_bar.com", "8080", None),
    ("foo/foo_bar.com:8080", "foo", "foo/foo_bar.com", "8080", None),
    ("192.168.1.1", "", "192.168.1.1", None, None),
    ("192.168.1.1:tag", "", "192.168.1.1", "tag", None),
    ("192.168.1.1:5000", "", "192.168.1.1", "5000", None),
    ("192.168.1.1/repo", "192.168.1.1", "192.168.1.1/repo", None, None),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000", "192.168.1.1:5000/repo", None, None),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "192.168.1.1:5000/repo", "5050", None),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "[2001:db8::1]/repo", None, None),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]",
        "[2001:db8:1:2:3:4:5:6]/repo",
        "tag",
        None,
    ),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "[2001:db8::1]:5000/repo", None, None),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "[2001:db8::1]:5000/repo", "tag", None),
    (
        f"[2001:db8::1]:5000/repo@{SHA256}",
        "[2001:db8::1]:5000",
        "[2001:db8::1]:5000/repo",
        None,
        SHA256,
    ),
    (
        f"[2001:db8::1]:5000/repo:tag@{SHA256}",
        "[2001:db8::1]:5000",
        "[2001:db8::1]:5000/repo",
        "tag",
        SHA256,
    ),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "[2001:db8::]:5000/repo", None, None),
    ("[::1]:5000/repo", "[::1]:5000", "[::1]:5000/repo", None, None),
]

# reference_test.go TestReferenceParse errors: input -> words the message must contain
PARSE_INVALID = [
    ("", "empty"),
    (":justtag", "not a valid reference"),
    (f"@{SHA256}", "not a valid reference"),
    ("repo@sha256:" + "f" * 65, "64 lowercase hex"),
    ("repo@sha256:" + "F" * 64, "64 lowercase hex"),
    (f"validname@invaliddigest:{F64}", "unsupported digest algorithm"),
    ("Uppercase:tag", "lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "lowercase"),
    ("a/" * 128 + "a:tag", "more than 255"),
    ("aa/asdf$$^/aa", "not a valid reference"),
    ("[2001:db8::1]", "not a valid reference"),
    ("[2001:db8::1]:5000", "not a valid reference"),
    ("[2001:db8::1]:tag", "not a valid reference"),
    ("[fe80::1%eth0]:5000/repo", "not a valid reference"),
    ("[fe80::1%@invalidzone]:5000/repo", "not a valid reference"),
    ("repo:" + "t" * 129, "not a valid reference"),
    ("repo:-tag", "not a valid reference"),
    ("repo:.tag", "not a valid reference"),
    ("repo:tägg", "not a valid reference"),
    ("repo:tag:tag", "not a valid reference"),
    ("repo/", "not a valid reference"),
    ("/repo", "not a valid reference"),
]


@pytest.mark.parametrize(("text", "domain", "name", "tag", "digest"), PARSE_VALID)
def test_parse_exact(
    text: str, domain: str, name: str, tag: str | None, digest: str | None
) -> None:
    reference = parse_exact(text)
    assert reference.domain == domain
    assert reference.name == name
    assert reference.tag == tag
    assert reference.digest == (Digest.parse(digest) if digest else None)
    assert str(reference) == text


@pytest.mark.parametrize(("text", "reason"), PARSE_INVALID)
def test_parse_exact_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid reference") as info:
        parse_exact(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.hint  # every refusal says what to do


# normalize_test.go TestValidateReferenceName
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/debian",
    f"docker.io/{HEX_ID}",
    "Docker/docker",
    "DOCKER/docker",
    # normalize_test.go TestValidateRemoteName
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]
INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    HEX_ID,
    # normalize_test.go TestValidateRemoteName
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255" * 4 + "/docker",
    "",
    "docker.io/docker/docker:",
    "docker.io/docker/docker@",
    "docker.io/docker/docker@sha256:",
    "busybox@md5:" + "f" * 32,
]


@pytest.mark.parametrize("text", VALID_NAMES)
def test_valid_names(text: str) -> None:
    reference = parse_normalized_named(text)
    # Normalising is idempotent, and the full form parses to the same reference.
    assert parse_normalized_named(str(reference)) == reference
    if not is_full_id(reference.familiar()):  # docker.io/<64 hex> shows as a bare ID
        assert parse_normalized_named(reference.familiar()) == reference


@pytest.mark.parametrize("text", INVALID_NAMES)
def test_invalid_names(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid reference"):
        parse_normalized_named(text)


def test_full_hex_id_is_not_a_name() -> None:
    with pytest.raises(InvalidArgument, match="image ID"):
        parse_normalized_named(HEX_ID)


def test_uppercase_repository_is_refused_with_a_reason() -> None:
    with pytest.raises(InvalidArgument, match="'docker/Docker' must be lowercase"):
        parse_normalized_named("docker/Docker")


def test_errors_quote_what_the_user_typed() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_normalized_named("bad$name")
    assert "'bad$name'" in info.value.message
    assert "docker.io/library" not in info.value.message


# normalize_test.go TestParseRepositoryInfo: each of the full, familiar and ambiguous names
# must give the same domain, path, familiar name and full name.
REPOSITORY_INFO = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    (
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "",
        "127.0.0.1:8000",
    ),
    (
        "privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "",
        "127.0.0.1:8000",
    ),
    (
        "private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "",
        "example.com",
    ),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    (
        "private/moonbase",
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        "",
        "example.com:8000",
    ),
    (
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "",
        "example.com:8000",
    ),
    (
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
    ),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]


@pytest.mark.parametrize(("path", "familiar", "full", "ambiguous", "domain"), REPOSITORY_INFO)
def test_repository_info(path: str, familiar: str, full: str, ambiguous: str, domain: str) -> None:
    for text in filter(None, (full, familiar, ambiguous)):
        reference = parse_normalized_named(text)
        assert reference.domain == domain
        assert reference.path == path
        assert reference.familiar_name() == familiar
        assert reference.name == full
        assert str(reference) == full


# normalize_test.go TestNormalizedSplitHostname
@pytest.mark.parametrize(
    ("text", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("localhost/foo", "localhost", "foo"),
        ("localhost:5000/a/b", "localhost:5000", "a/b"),
        ("localhostx/foo", "docker.io", "localhostx/foo"),
    ],
)
def test_split_hostname(text: str, domain: str, path: str) -> None:
    reference = parse_normalized_named(text)
    assert (reference.domain, reference.path) == (domain, path)


# The examples of the issue and of `docker images`.
@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("user/app:1", "docker.io/user/app:1", "user/app:1"),
        ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/user/app:1", "docker.io/user/app:1", "user/app:1"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("quay.io/org/app:v2", "quay.io/org/app:v2", "quay.io/org/app:v2"),
        (
            f"localhost:5000/a/b:tag@{SHA256}",
            f"localhost:5000/a/b:tag@{SHA256}",
            f"localhost:5000/a/b:tag@{SHA256}",
        ),
        (f"busybox@{SHA256}", f"docker.io/library/busybox@{SHA256}", f"busybox@{SHA256}"),
    ],
)
def test_parse_reference(text: str, full: str, familiar: str) -> None:
    reference = parse_reference(text)
    assert str(reference) == full
    assert reference.familiar() == familiar


def test_tag_and_digest() -> None:
    # reference_test.go TestParseReferenceWithTagAndDigest
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    reference = parse_normalized_named(short)
    assert str(reference) == "docker.io/library/" + short
    assert reference.tag == "latest"
    assert str(reference.digest) == short.partition("@")[2]
    assert reference.familiar() == short


def test_tag_name_only() -> None:
    assert tag_name_only(parse_normalized_named("busybox")).tag == "latest"
    assert tag_name_only(parse_normalized_named("busybox:1")).tag == "1"
    digested = tag_name_only(parse_normalized_named(f"busybox@{SHA256}"))
    assert digested.tag is None and digested.digest == SHA256


# normalize_test.go TestParseDockerRef
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        (f"busybox@{BUSYBOX_DIGEST}", f"docker.io/library/busybox@{BUSYBOX_DIGEST}"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
        ("library/busybox:latest", "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
        ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
        (
            f"gcr.io/library/busybox:latest@{BUSYBOX_DIGEST}",
            f"gcr.io/library/busybox@{BUSYBOX_DIGEST}",
        ),
    ],
)
def test_parse_docker_ref(text: str, expected: str) -> None:
    assert str(parse_docker_ref(text)) == expected


def test_reference_parts_and_helpers() -> None:
    reference = parse_reference("localhost:5000/team/app:1")
    assert reference.domain == "localhost:5000"
    assert reference.path == "team/app"
    assert reference.name == "localhost:5000/team/app"
    assert reference.familiar_name() == "localhost:5000/team/app"
    assert str(reference.with_tag("2")) == "localhost:5000/team/app:2"
    assert str(reference.without_tag_or_digest()) == "localhost:5000/team/app"
    digested = reference.with_digest(Digest.parse(SHA256))
    assert str(digested) == f"localhost:5000/team/app:1@{SHA256}"
    assert Reference("docker.io", "library/a", "b") == parse_reference("a:b")
    assert len({parse_reference("a"), parse_reference("docker.io/library/a:latest")}) == 1


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a" * 129, "a/b", "ä"])
def test_with_tag_refuses_bad_tags(tag: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid tag"):
        parse_reference("busybox").with_tag(tag)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEX_ID, True),
        ("sha256:" + HEX_ID, True),
        ("1a3f", True),
        ("1a3f5e7d9c1b", True),
        ("sha256:1a3f5e", True),
        ("1a3", False),  # too short to be told apart from names
        ("1A3F5E", False),
        ("busybox", False),
        ("1a3g", False),
        (HEX_ID + "0", False),
        ("sha512:" + HEX_ID, False),
        ("", False),
    ],
)
def test_looks_like_id(text: str, expected: bool) -> None:
    assert looks_like_id(text) is expected


def test_looks_like_id_prefix_length_is_adjustable() -> None:
    assert looks_like_id("abc", min_prefix=3)
    assert not looks_like_id("abcdef", min_prefix=12)


def test_is_full_id() -> None:
    assert is_full_id(HEX_ID)
    assert is_full_id("sha256:" + HEX_ID)
    assert not is_full_id(HEX_ID[:12])
    # Ambiguity as Docker resolves it: a hex prefix is still a valid repository name.
    assert parse_reference("cafe").familiar() == "cafe:latest"


def test_pathological_input_is_refused_quickly() -> None:
    for text in ("a" + "-" * 20000 + "!", "a" + "_a" * 10000 + "__!", "a." * 10000 + "/A"):
        with pytest.raises(InvalidArgument):
            parse_normalized_named(text)
