from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument, Unavailable
from capsa.kernel import mounts as k
from capsa.runtime.rootfs.options import (
    FLAG_OPTIONS,
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME,
    MS_I_VERSION,
    PROPAGATION_OPTIONS,
    RECURSIVE_OPTIONS,
    ST_NOATIME,
    ST_NODEV,
    ST_NOSUID,
    ST_RDONLY,
    ST_RELATIME,
    keep_locked,
    parse_options,
    statvfs_to_mount_flags,
)

# Every option of the spec's table that maps to a mount(2) flag: (option, sets, flag).
FLAG_TABLE = [
    ("async", False, k.MS_SYNCHRONOUS),
    ("atime", False, k.MS_NOATIME),
    ("bind", True, k.MS_BIND),
    ("dev", False, k.MS_NODEV),
    ("diratime", False, k.MS_NODIRATIME),
    ("dirsync", True, k.MS_DIRSYNC),
    ("exec", False, k.MS_NOEXEC),
    ("iversion", True, MS_I_VERSION),
    ("lazytime", True, k.MS_LAZYTIME),
    ("loud", False, k.MS_SILENT),
    ("mand", True, k.MS_MANDLOCK),
    ("noatime", True, k.MS_NOATIME),
    ("nodev", True, k.MS_NODEV),
    ("nodiratime", True, k.MS_NODIRATIME),
    ("noexec", True, k.MS_NOEXEC),
    ("noiversion", False, MS_I_VERSION),
    ("nolazytime", False, k.MS_LAZYTIME),
    ("nomand", False, k.MS_MANDLOCK),
    ("norelatime", False, k.MS_RELATIME),
    ("nostrictatime", False, k.MS_STRICTATIME),
    ("nosuid", True, k.MS_NOSUID),
    ("nosymfollow", True, k.MS_NOSYMFOLLOW),
    ("rbind", True, k.MS_BIND | k.MS_REC),
    ("relatime", True, k.MS_RELATIME),
    ("remount", True, k.MS_REMOUNT),
    ("ro", True, k.MS_RDONLY),
    ("rw", False, k.MS_RDONLY),
    ("silent", True, k.MS_SILENT),
    ("strictatime", True, k.MS_STRICTATIME),
    ("suid", False, k.MS_NOSUID),
    ("symfollow", False, k.MS_NOSYMFOLLOW),
    ("sync", True, k.MS_SYNCHRONOUS),
    ("acl", True, k.MS_POSIXACL),
    ("noacl", False, k.MS_POSIXACL),
]


def test_the_table_covers_every_flag_option() -> None:
    assert {name for name, _, _ in FLAG_TABLE} | {"defaults"} == set(FLAG_OPTIONS)


@pytest.mark.parametrize(("option", "sets", "flag"), FLAG_TABLE)
def test_flag_option(option: str, sets: bool, flag: int) -> None:
    parsed = parse_options([option], "mounts[0].options")
    if sets:
        assert parsed.flags == flag
        assert parsed.cleared == 0
    else:
        assert parsed.flags == 0
        assert parsed.cleared == flag
    assert parsed.data is None
    assert parsed.propagation == ()


@pytest.mark.parametrize(("option", "sets", "flag"), [f for f in FLAG_TABLE if not f[1]])
def test_clearing_option_undoes_an_earlier_setting(option: str, sets: bool, flag: int) -> None:
    opposite = next(name for name, s, f in FLAG_TABLE if s and f == flag)
    assert parse_options([opposite, option], "o").flags == 0
    assert parse_options([option, opposite], "o").flags == flag


def test_defaults_changes_nothing() -> None:
    assert parse_options(["defaults"], "o") == parse_options([], "o")


@pytest.mark.parametrize(("option", "flag"), sorted(PROPAGATION_OPTIONS.items()))
def test_propagation_option(option: str, flag: int) -> None:
    parsed = parse_options(["rbind", option, "ro"], "o")
    assert parsed.propagation == (flag,)
    assert parsed.flags == k.MS_BIND | k.MS_REC | k.MS_RDONLY


def test_propagation_options_keep_their_order() -> None:
    parsed = parse_options(["rshared", "private", "runbindable"], "o")
    assert parsed.propagation == (
        k.MS_SHARED | k.MS_REC,
        k.MS_PRIVATE,
        k.MS_UNBINDABLE | k.MS_REC,
    )
    assert parse_options(["rslave"], "o").propagation == (k.MS_SLAVE | k.MS_REC,)
    assert parse_options(["slave"], "o").propagation == (k.MS_SLAVE,)
    assert parse_options(["shared"], "o").propagation == (k.MS_SHARED,)
    assert parse_options(["unbindable"], "o").propagation == (k.MS_UNBINDABLE,)
    assert parse_options(["rprivate"], "o").propagation == (k.MS_PRIVATE | k.MS_REC,)


@pytest.mark.parametrize(("option", "entry"), sorted(RECURSIVE_OPTIONS.items()))
def test_recursive_option(option: str, entry: tuple[bool, int]) -> None:
    clear, attr = entry
    parsed = parse_options([option], "o")
    assert parsed.flags == 0
    assert parsed.recursive_attrs or attr == MOUNT_ATTR_RELATIME
    if clear:
        assert parsed.attr_clr == attr
        assert parsed.attr_set == 0
    elif attr & MOUNT_ATTR__ATIME == attr:
        # An atime mode is chosen by clearing the whole atime field and setting the mode.
        assert parsed.attr_set == attr
        assert parsed.attr_clr == MOUNT_ATTR__ATIME
    else:
        assert parsed.attr_set == attr
        assert parsed.attr_clr == 0


def test_recursive_options_combine() -> None:
    parsed = parse_options(["rro", "rnosuid", "rnoatime"], "o")
    assert parsed.attr_set == MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
    assert parsed.attr_clr == MOUNT_ATTR__ATIME
    parsed = parse_options(["rro", "rrw"], "o")
    assert (parsed.attr_set, parsed.attr_clr) == (0, MOUNT_ATTR_RDONLY)
    assert parse_options(["rstrictatime"], "o").attr_set == MOUNT_ATTR_STRICTATIME


def test_unknown_options_become_the_data_string_in_order() -> None:
    parsed = parse_options(["nosuid", "mode=755", "strictatime", "size=65536k", "newinstance"], "o")
    assert parsed.data == "mode=755,size=65536k,newinstance"
    assert parsed.flags == k.MS_NOSUID | k.MS_STRICTATIME


@pytest.mark.parametrize("option", ["tmpcopyup", "idmap", "ridmap"])
def test_unsupported_options_are_refused_naming_the_field(option: str) -> None:
    with pytest.raises(Unavailable) as caught:
        parse_options(["rbind", option], "mounts[4].options")
    assert "mounts[4].options[1]: " in str(caught.value)
    assert option in str(caught.value)


def test_empty_option_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"mounts\[0\]\.options\[1\]: must not be empty"):
        parse_options(["ro", ""], "mounts[0].options")


def test_bind_property() -> None:
    assert parse_options(["rbind"], "o").bind
    assert parse_options(["bind"], "o").bind
    assert not parse_options(["ro"], "o").bind


def test_statvfs_flags_become_mount_flags() -> None:
    st = ST_RDONLY | ST_NOSUID | ST_NODEV | ST_RELATIME
    assert statvfs_to_mount_flags(st) == k.MS_RDONLY | k.MS_NOSUID | k.MS_NODEV | k.MS_RELATIME
    assert statvfs_to_mount_flags(ST_NOATIME) == k.MS_NOATIME
    assert statvfs_to_mount_flags(0) == 0


def test_keep_locked_adds_what_a_user_namespace_locks() -> None:
    current = k.MS_RDONLY | k.MS_NOSUID | k.MS_NODEV | k.MS_RELATIME
    assert keep_locked(k.MS_NOEXEC, 0, current) == k.MS_NOEXEC | current


def test_keep_locked_respects_an_explicit_request_to_clear() -> None:
    current = k.MS_RDONLY | k.MS_NOSUID
    # `rw` asked for explicitly: we do not quietly make it read-only; the kernel says no.
    assert keep_locked(0, k.MS_RDONLY, current) == k.MS_NOSUID


def test_keep_locked_leaves_atime_to_options_that_choose_it() -> None:
    assert keep_locked(k.MS_STRICTATIME, 0, k.MS_RELATIME) == k.MS_STRICTATIME
    assert keep_locked(0, k.MS_NOATIME, k.MS_NOATIME) == 0
    assert keep_locked(0, 0, k.MS_NOATIME | k.MS_NODIRATIME) == k.MS_NOATIME | k.MS_NODIRATIME
