"""Resolving `--user` and `--group-add` through the image's /etc/passwd and /etc/group,
as Docker does (moby/sys/user): names and numbers, `user`, `user:group`, `uid:gid`.
The files are read inside the container's root (openat2 RESOLVE_IN_ROOT), so a symlink
in the image cannot make us read the host's."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field

from capsa.errors import InvalidArgument
from capsa.kernel.paths import try_open_in_root

MAX_ID = 2**31 - 1
MAX_FILE = 16 << 20


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def read_in_root(rootfs: str, path: str) -> str | None:
    """The text of `path` inside `rootfs`, or None if it is not a regular file there."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = try_open_in_root(root_fd, path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    finally:
        os.close(root_fd)
    if fd < 0:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_FILE)
    finally:
        os.close(fd)
    return data.decode(errors="replace")


def parse_passwd(text: str) -> list[PasswdEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or not parts[0] or line.startswith("#"):
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        home = parts[5] if len(parts) > 5 and parts[5] else "/"
        entries.append(PasswdEntry(parts[0], uid, gid, home))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 3 or not parts[0] or line.startswith("#"):
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        members = tuple(m for m in parts[3].split(",") if m) if len(parts) > 3 else ()
        entries.append(GroupEntry(parts[0], gid, members))
    return entries


def _number(text: str) -> int | None:
    if text.isdigit():
        value = int(text)
        if value > MAX_ID:
            raise InvalidArgument(f"invalid user or group ID {text}: larger than {MAX_ID}")
        return value
    return None


def resolve_user(
    user: str,
    passwd: list[PasswdEntry],
    groups: list[GroupEntry],
    group_add: Sequence[str] = (),
) -> ResolvedUser:
    """`user` as --user takes it ("" is root) -> uid, gid and supplementary groups."""
    name_part, _, group_part = (user or "0").partition(":")
    uid = _number(name_part)
    entry: PasswdEntry | None = None
    if uid is None:
        entry = next((e for e in passwd if e.name == name_part), None)
        if entry is None:
            raise InvalidArgument(
                f"unable to find user {name_part}: no matching entries in passwd file",
                hint="use a numeric UID or a user the image has",
            )
        uid = entry.uid
    else:
        entry = next((e for e in passwd if e.uid == uid), None)
    gid = entry.gid if entry is not None else 0
    if group_part:
        number = _number(group_part)
        if number is None:
            group = next((g for g in groups if g.name == group_part), None)
            if group is None:
                raise InvalidArgument(
                    f"unable to find group {group_part}: no matching entries in group file",
                    hint="use a numeric GID or a group the image has",
                )
            number = group.gid
        gid = number
    additional: list[int] = []
    if entry is not None and not group_part:
        # Docker adds the groups the user is listed in (not when a group was given).
        additional = [g.gid for g in groups if entry.name in g.members and g.gid != gid]
    for item in group_add:
        number = _number(item)
        if number is None:
            group = next((g for g in groups if g.name == item), None)
            if group is None:
                raise InvalidArgument(
                    f"unable to find group {item}: no matching entries in group file",
                    hint="use a numeric GID with --group-add, or a group the image has",
                )
            number = group.gid
        if number not in additional:
            additional.append(number)
    home = entry.home if entry is not None else "/"
    return ResolvedUser(uid, gid, tuple(additional), home, entry.name if entry else "")


def resolve_in_rootfs(rootfs: str, user: str, group_add: Sequence[str]) -> ResolvedUser:
    needs_files = bool(group_add) or not all(
        part.isdigit() for part in (user or "0").split(":") if part
    )
    passwd_text = read_in_root(rootfs, "/etc/passwd") or ""
    group_text = read_in_root(rootfs, "/etc/group") if needs_files or passwd_text else ""
    return resolve_user(user, parse_passwd(passwd_text), parse_group(group_text or ""), group_add)
