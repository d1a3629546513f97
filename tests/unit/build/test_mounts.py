"""RUN --mount values (BuildKit's bind/cache/tmpfs/secret options), --secret values (as
buildx parses them) and the directories of cache mounts with their sharing modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from capsa.build.mounts import CacheMounts, RunMount, Secret, parse_run_mount, parse_secret
from capsa.errors import InvalidArgument, NotFound

# -- parse_run_mount ---------------------------------------------------------------------


def test_bind_is_the_default_type_and_read_only() -> None:
    mount = parse_run_mount("target=/src")
    assert (mount.type, mount.target, mount.readonly) == ("bind", "/src", True)
    assert mount.source == "" and mount.from_ == ""


def test_bind_with_source_from_and_rw() -> None:
    mount = parse_run_mount("type=bind,source=/out,from=build,target=/in,rw")
    assert (mount.source, mount.from_, mount.target, mount.readonly) == (
        "/out",
        "build",
        "/in",
        False,
    )
    assert parse_run_mount("type=bind,src=x,dst=/y,readwrite=true").readonly is False


@pytest.mark.parametrize("key", ["target", "dst", "destination"])
def test_target_aliases(key: str) -> None:
    assert parse_run_mount(f"type=tmpfs,{key}=/t").target == "/t"


def test_the_target_is_cleaned() -> None:
    assert parse_run_mount("target=/a/./b/").target == "/a/b"


def test_cache_defaults_its_id_to_the_target() -> None:
    mount = parse_run_mount("type=cache,target=/root/.cache/pip")
    assert mount.cache_id == "/root/.cache/pip"
    assert (mount.sharing, mount.readonly, mount.mode, mount.uid, mount.gid) == (
        "shared",
        False,
        None,
        0,
        0,
    )


def test_cache_options() -> None:
    mount = parse_run_mount(
        "type=cache,id=pip,target=/c,sharing=locked,mode=0700,uid=1000,gid=100,ro"
    )
    assert (mount.cache_id, mount.sharing, mount.mode, mount.uid, mount.gid) == (
        "pip",
        "locked",
        0o700,
        1000,
        100,
    )
    assert mount.readonly


def test_keys_are_case_insensitive() -> None:
    assert parse_run_mount("TYPE=tmpfs,Target=/t").type == "tmpfs"


@pytest.mark.parametrize(("size", "expected"), [("64m", 64 << 20), ("1g", 1 << 30), ("512", 512)])
def test_tmpfs_size(size: str, expected: int) -> None:
    assert parse_run_mount(f"type=tmpfs,target=/t,size={size}").size == expected


def test_secret_defaults_to_run_secrets_id() -> None:
    mount = parse_run_mount("type=secret,id=aws")
    assert (mount.type, mount.cache_id, mount.target) == ("secret", "aws", "/run/secrets/aws")
    assert not mount.required


def test_secret_id_defaults_to_the_target_name() -> None:
    mount = parse_run_mount("type=secret,target=/root/.npmrc,required")
    assert (mount.cache_id, mount.target, mount.required) == (".npmrc", "/root/.npmrc", True)


def test_secret_as_an_environment_variable_has_no_file() -> None:
    mount = parse_run_mount("type=secret,id=token,env=TOKEN")
    assert (mount.secret_env, mount.target) == ("TOKEN", "")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("type=volume,target=/x", "unknown type"),
        ("type=ssh", "SSH agent"),
        ("type=cache", "target= is required"),
        ("type=bind,target=relative", "absolute path"),
        ("type=secret", "needs id= or target="),
        ("type=cache,target=/c,sharing=sometimes", "sharing must be"),
        ("type=cache,target=/c,uid=root", "invalid --mount"),
        ("type=cache,target=/c,mode=rwx", "invalid --mount"),
        ("type=bind,target=/c,colour=blue", "unknown option 'colour'"),
    ],
)
def test_bad_mounts_are_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_run_mount(text)
    assert why in info.value.message


# -- parse_secret ------------------------------------------------------------------------


def test_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret")
    secret = parse_secret(f"id=tok,src={tmp_path}/token")
    assert secret == Secret("tok", str(tmp_path / "token"), "")
    assert secret.read() == b"s3cret"


def test_a_relative_secret_file_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert parse_secret("id=a,source=f").source == str(tmp_path / "f")


def test_a_missing_secret_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        parse_secret(f"id=a,src={tmp_path}/missing")


def test_secret_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG_DATA", "cfg")
    secret = parse_secret("id=kube,env=KUBECONFIG_DATA")
    assert secret == Secret("kube", "", "KUBECONFIG_DATA")
    assert secret.read() == b"cfg"


def test_secret_type_env_takes_src_as_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # buildx: --secret type=env,id=x,src=VAR reads the variable VAR
    monkeypatch.setenv("CAPSA_TEST_VAR", "v")
    secret = parse_secret("type=env,id=x,src=CAPSA_TEST_VAR")
    assert (secret.source, secret.env) == ("", "CAPSA_TEST_VAR")
    assert secret.read() == b"v"


def test_a_bare_id_is_the_variable_of_that_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Docker: docker build --secret id=API_TOKEN . reads $API_TOKEN
    monkeypatch.setenv("API_TOKEN", "t")
    assert parse_secret("id=API_TOKEN").read() == b"t"


def test_a_bare_id_naming_a_file_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "npmrc").write_text("registry")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("npmrc", raising=False)
    assert parse_secret("id=npmrc").read() == b"registry"


def test_a_bare_id_with_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPSA_NO_SUCH_SECRET", raising=False)
    with pytest.raises(InvalidArgument) as info:
        parse_secret("id=CAPSA_NO_SUCH_SECRET")
    assert "src=FILE or env=VARIABLE" in info.value.message


@pytest.mark.parametrize(
    ("text", "why"),
    [("src=/etc/hostname", "id= is required"), ("id=a,colour=x", "unknown option"),
     ("id=a,type=ssh,src=/etc/hostname", "unsupported type")],
)  # fmt: skip
def test_bad_secrets_are_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_secret(text)
    assert why in info.value.message


def test_reading_an_unset_variable_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPSA_GONE", raising=False)
    with pytest.raises(NotFound):
        Secret("x", "", "CAPSA_GONE").read()


# -- CacheMounts ---------------------------------------------------------------------------


def cache_mount(
    sharing: str = "shared", cache_id: str = "pip", mode: int | None = None
) -> RunMount:
    return RunMount(
        type="cache",
        target="/c",
        cache_id=cache_id,
        sharing=sharing,
        mode=mode,
        uid=os.getuid(),
        gid=os.getgid(),
        readonly=False,
    )


def test_a_cache_directory_is_kept_by_id(tmp_path: Path) -> None:
    mounts = CacheMounts(str(tmp_path / "mounts"))
    first, stack = mounts.directory(cache_mount(mode=0o700))
    stack.close()
    Path(first, "kept").write_text("x")
    again, stack = mounts.directory(cache_mount())
    stack.close()
    assert again == first and Path(again, "kept").exists()
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700
    other, stack = mounts.directory(cache_mount(cache_id="npm"))
    stack.close()
    assert other != first


def test_a_new_cache_directory_is_0755_owned_as_asked(tmp_path: Path) -> None:
    path, stack = CacheMounts(str(tmp_path)).directory(cache_mount())
    stack.close()
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_a_private_cache_in_use_gives_a_throw_away_directory(tmp_path: Path) -> None:
    mounts = CacheMounts(str(tmp_path))
    held, holding = mounts.directory(cache_mount("private"))
    try:
        scratch, scratch_stack = mounts.directory(cache_mount("private"))
        assert scratch != held and os.path.isdir(scratch)
        scratch_stack.close()
        assert not os.path.exists(scratch)
    finally:
        holding.close()
    free, stack = mounts.directory(cache_mount("private"))
    stack.close()
    assert free == held


def test_a_shared_cache_is_the_same_directory_for_everyone(tmp_path: Path) -> None:
    mounts = CacheMounts(str(tmp_path))
    one, first = mounts.directory(cache_mount("shared"))
    two, second = mounts.directory(cache_mount("shared"))
    assert one == two
    first.close()
    second.close()
