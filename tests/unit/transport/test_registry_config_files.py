"""Credentials files (Docker's config.json, Podman's auth.json), registries.conf and the
paths they are found at."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from capsa.errors import InvalidArgument, PermissionDenied
from capsa.transport.registry import authfile, regconf
from capsa.transport.registry.authfile import Credentials
from capsa.transport.registry.paths import RegistryPaths


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_lookup_matches_keys_however_spelled(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": _auth("hub", "h")},
                    "http://localhost:5000": {"auth": _auth("local", "l")},
                    "quay.io": {"auth": _auth("quay", "q")},
                    "quay.io/team": {"auth": _auth("team", "t")},
                },
                "psFormat": "kept",
            }
        )
    )
    files = (config,)
    assert authfile.lookup(files, "docker.io") == Credentials("hub", "h")
    assert authfile.lookup(files, "registry-1.docker.io") == Credentials("hub", "h")
    assert authfile.lookup(files, "localhost:5000") == Credentials("local", "l")
    assert authfile.lookup(files, "quay.io", "team/app") == Credentials("team", "t")
    assert authfile.lookup(files, "quay.io", "other/app") == Credentials("quay", "q")
    assert authfile.lookup(files, "ghcr.io") is None
    assert "secret" not in repr(Credentials("u", "secret"))


def test_first_file_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"auths": {"r.io": {"auth": _auth("one", "1")}}}))
    second.write_text(json.dumps({"auths": {"r.io": {"auth": _auth("two", "2")}}}))
    assert authfile.lookup((tmp_path / "missing.json", first, second), "r.io") == (
        Credentials("one", "1")
    )


def test_store_is_atomic_private_and_keeps_other_fields(tmp_path: Path) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {"localhost:5000/": {"auth": "x"}}, "credsStore": ""}))
    authfile.store(config, "localhost:5000", Credentials("me", "pw:with:colons"))
    authfile.store(config, "docker.io", Credentials("hub", "h"))
    document = json.loads(config.read_text())
    assert document["credsStore"] == ""
    assert set(document["auths"]) == {"localhost:5000", "https://index.docker.io/v1/"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert authfile.lookup((config,), "localhost:5000") == Credentials("me", "pw:with:colons")
    assert [p.name for p in config.parent.iterdir()] == ["config.json"]  # no temporary left
    podman = tmp_path / "auth.json"
    authfile.store(podman, "docker.io", Credentials("hub", "h"))
    assert list(json.loads(podman.read_text())["auths"]) == ["docker.io"]


def test_remove(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    authfile.store(config, "localhost:5000", Credentials("me", "pw"))
    authfile.store(config, "r.io", Credentials("r", "pw"))
    assert authfile.remove(config, "https://localhost:5000/v2/")
    assert not authfile.remove(config, "localhost:5000")
    assert authfile.lookup((config,), "r.io") is not None
    assert authfile.remove_all(config)
    assert json.loads(config.read_text())["auths"] == {}
    assert not authfile.remove(tmp_path / "none.json", "r.io")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"auths": []}', '"auths" is not an object'),
        ('{"auths": {"r.io": {"auth": "%%%"}}}', "not base64"),
        (
            '{"auths": {"r.io": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}',
            "no ':'",
        ),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(InvalidArgument, match=message) as info:
        authfile.lookup((path,), "r.io")
    assert str(path) in str(info.value)


V2 = """
unqualified-search-registries = ["registry.example.com", "docker.io"]

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"

[[registry.mirror]]
location = "mirror.local:5000/foo"
insecure = true

[[registry.mirror]]
location = "digests.local/foo"
pull-from-mirror = "digest-only"

[[registry]]
location = "localhost:5000"
insecure = true

[[registry]]
location = "blocked.example.com"
blocked = true

[[registry]]
prefix = "*.wild.example"
location = "wild-mirror.example"

[aliases]
"busybox" = "docker.io/library/busybox"
"""


def test_registries_conf_v2_rewrites_and_mirrors() -> None:
    conf = regconf.parse_text(V2)
    assert conf.search == ("registry.example.com", "docker.io")
    assert conf.aliases["busybox"] == "docker.io/library/busybox"
    by_tag = conf.endpoints("example.com", "foo/app", by_digest=False, pull=True)
    assert [(e.host, e.repository, e.insecure, e.mirror) for e in by_tag] == [
        ("mirror.local:5000", "foo/app", True, True),
        ("internal.example.com", "bar/app", False, False),
    ]
    by_digest = conf.endpoints("example.com", "foo/app", by_digest=True, pull=True)
    assert [e.host for e in by_digest] == [
        "mirror.local:5000",
        "digests.local",
        "internal.example.com",
    ]
    push = conf.endpoints("example.com", "foo/app", by_digest=False, pull=False)
    assert [e.name for e in push] == ["internal.example.com/bar/app"]
    # a path prefix matches whole components only
    assert conf.endpoints("example.com", "foobar/x", by_digest=False, pull=True)[0].host == (
        "example.com"
    )
    assert conf.insecure("localhost:5000") and not conf.insecure("example.com")
    assert conf.endpoints("a.wild.example", "x", by_digest=False, pull=True)[0].name == (
        "wild-mirror.example/x"
    )
    with pytest.raises(PermissionDenied, match="blocked"):
        conf.endpoints("blocked.example.com", "x", by_digest=False, pull=True)


def test_registries_conf_v1() -> None:
    conf = regconf.parse_text(
        '[registries.search]\nregistries = ["quay.io"]\n'
        '[registries.insecure]\nregistries = ["old.local:5000"]\n'
        '[registries.block]\nregistries = ["bad.io"]\n'
    )
    assert conf.search == ("quay.io",)
    assert conf.insecure("old.local:5000")
    with pytest.raises(PermissionDenied):
        conf.endpoints("bad.io", "x", by_digest=False, pull=True)


def test_later_files_override_earlier(tmp_path: Path) -> None:
    system, own = tmp_path / "system.conf", tmp_path / "own.conf"
    system.write_text('unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "r.io"\n')
    own.write_text('[[registry]]\nlocation = "r.io"\ninsecure = true\n')
    conf = regconf.load([system, tmp_path / "missing.conf", own])
    assert conf.search == ("a.io",)
    assert conf.insecure("r.io")
    assert conf.files == (system, own)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registry = 1", "array of tables"),
        ("[[registry]]\ninsecure = true", "needs a location or a prefix"),
        ('[[registry]]\nlocation = "r"\ninsecure = "yes"', "must be true or false"),
        (
            '[[registry]]\nlocation = "r"\n'
            '[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "x"',
            "pull-from-mirror",
        ),
        ("unqualified-search-registries = [1]", "list of strings"),
    ],
)
def test_registries_conf_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "registries.conf"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message) as info:
        regconf.load([path])
    assert str(path) in str(info.value)


def test_paths_from_environment(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "dc"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "CAPSA_CONFIG_DIR": str(tmp_path / "capsa"),
    }
    paths = RegistryPaths.from_environ(env)
    assert paths.auth_files[0] == tmp_path / "dc/config.json"
    assert tmp_path / "run/containers/auth.json" in paths.auth_files
    assert paths.auth_write == tmp_path / "dc/config.json"
    assert paths.registries_conf[-1] == tmp_path / "capsa/registries.conf"
    assert paths.certificate_dirs("r.io:5000")[0] == tmp_path / "capsa/certs.d/r.io:5000"
    assert Path("/etc/docker/certs.d/r.io:5000") in paths.certificate_dirs("r.io:5000")
    explicit = RegistryPaths.from_environ(
        {
            **env,
            "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
            "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "r.conf"),
        }
    )
    assert explicit.auth_write == tmp_path / "auth.json" == explicit.auth_files[0]
    assert explicit.registries_conf == (tmp_path / "r.conf",)
    chosen = paths.with_authfile(str(tmp_path / "x.json")).with_cert_dir(str(tmp_path / "certs"))
    assert chosen.auth_files == (tmp_path / "x.json",)
    assert chosen.certificate_dirs("any:1") == (tmp_path / "certs",)
