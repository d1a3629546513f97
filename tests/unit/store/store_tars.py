"""Build layer tarballs in tests with `tarfile`, and look at unpacked trees."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

import zstandard

MTIME = 1_600_000_000

Member = tuple[tarfile.TarInfo, bytes | None]


def _info(name: str, type: bytes, mode: int, uid: int, gid: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.mtime = mtime
    return info


def reg(
    name: str,
    data: bytes = b"",
    *,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
    xattrs: dict[str, bytes] | None = None,
) -> Member:
    info = _info(name, tarfile.REGTYPE, mode, uid, gid, mtime)
    info.size = len(data)
    if xattrs:
        info.pax_headers = {
            f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
            for key, value in xattrs.items()
        }
    return info, data


def dir_(name: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = MTIME) -> Member:
    return _info(name, tarfile.DIRTYPE, mode, uid, gid, mtime), None


def sym(name: str, target: str, *, uid: int = 0, gid: int = 0, mtime: int = MTIME) -> Member:
    info = _info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
    info.linkname = target
    return info, None


def link(name: str, target: str) -> Member:
    info = _info(name, tarfile.LNKTYPE, 0o644, 0, 0, MTIME)
    info.linkname = target
    return info, None


def node(
    name: str, kind: str, major: int = 0, minor: int = 0, *, mode: int = 0o600, uid: int = 0
) -> Member:
    type = {"char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
    info = _info(name, type, mode, uid, uid, MTIME)
    info.devmajor = major
    info.devminor = minor
    return info, None


def tar_bytes(*members: Member) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        # mtime=0: the same tar gives the same blob, whenever in the second it is made
        return gzip.compress(data, mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    return data


def tree(root: Path) -> dict[str, str]:
    """A summary of every entry under root: type, mode and content or target."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[rel] = f"link {os.readlink(path)}"
            elif stat.S_ISDIR(st.st_mode):
                result[rel] = f"dir {stat.S_IMODE(st.st_mode):o}"
            elif stat.S_ISREG(st.st_mode):
                result[rel] = f"file {stat.S_IMODE(st.st_mode):o} {path.read_bytes()!r}"
            else:
                result[rel] = f"node {st.st_mode:o} {st.st_rdev}"
    return result


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()
