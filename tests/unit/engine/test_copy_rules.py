"""`capsa cp`: Docker's argument and destination rules, and the descriptor-based writer."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from capsa.engine.copy import Endpoint, Plan, extract, plan_copy, split_copy_arg
from capsa.errors import InvalidArgument, NotFound

FILE = Endpoint(True, False)
DIR = Endpoint(True, True)
MISSING = Endpoint(False)


def test_split_copy_arg() -> None:
    assert split_copy_arg("web:/etc/hosts") == ("web", "/etc/hosts")
    assert split_copy_arg("/tmp/a:b") == (None, "/tmp/a:b")
    assert split_copy_arg("./a:b") == (None, "./a:b")
    assert split_copy_arg("-") == (None, "-")


def test_file_rules() -> None:
    assert plan_copy("/etc/passwd", FILE, "/out/new", MISSING) == Plan("/out", "new")
    assert plan_copy("/etc/passwd", FILE, "/out/old", FILE) == Plan("/out", "old")
    assert plan_copy("/etc/passwd", FILE, "/out", DIR) == Plan("/out", "passwd")
    with pytest.raises(NotFound, match="no such directory"):
        plan_copy("/etc/passwd", FILE, "/out/missing/", MISSING)
    with pytest.raises(InvalidArgument, match="not a directory"):
        plan_copy("/etc/passwd/", FILE, "/out", DIR)


def test_directory_rules() -> None:
    assert plan_copy("/etc", DIR, "/out/new", MISSING) == Plan("/out", "new")
    assert plan_copy("/etc", DIR, "/out", DIR) == Plan("/out", "etc")
    assert plan_copy("/etc/.", DIR, "/out", DIR) == Plan("/out", "")
    with pytest.raises(InvalidArgument, match="cannot copy a directory to a file"):
        plan_copy("/etc", DIR, "/out/file", FILE)


def _tar(*members: tuple[str, bytes | None, str]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o640
                tar.addfile(info, io.BytesIO(content))
    data.seek(0)
    return data


def test_writer_replaces_symlinks_instead_of_following_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "trap").symlink_to(outside)
    (dest / "file").symlink_to(outside / "victim")
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    owner = (os.getuid(), os.getgid())
    try:
        extract(_tar(("file", b"data", ""), ("d", None, ""), ("d/x", b"x", "")), fd, owner=owner)
        with pytest.raises(InvalidArgument, match="not a directory"):
            extract(_tar(("trap/escaped", b"no", "")), fd, owner=owner)
        with pytest.raises(InvalidArgument, match="invalid path"):
            extract(_tar(("../up", b"no", "")), fd, owner=owner)
    finally:
        os.close(fd)
    assert list(outside.iterdir()) == []
    assert (dest / "file").read_bytes() == b"data" and not (dest / "file").is_symlink()
    assert (dest / "file").stat().st_mode & 0o777 == 0o640
    assert (dest / "d/x").read_bytes() == b"x"
