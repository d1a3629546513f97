"""A streaming tar reader and writer for layers (POSIX ustar, PAX and GNU extensions).

Hand-written rather than `tarfile` so that a layer moves through in large pieces without
extra copies, names stay bytes from end to end, binary xattr values come out exactly as
stored, and every malformed header is refused with a clear reason. Sparse files are
refused (no layer writer produces them).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable, Iterator

from capsa.errors import InvalidArgument

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_EXTENDED = 16 << 20  # PAX/GNU long-name data of one entry

REGULAR = b"0"
AREGULAR = b"\0"
HARDLINK = b"1"
SYMLINK = b"2"
CHAR = b"3"
BLOCKDEV = b"4"
DIRECTORY = b"5"
FIFO = b"6"
CONTIGUOUS = b"7"
PAX_HEADER = b"x"
PAX_GLOBAL = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
GNU_SPARSE = b"S"

REGULAR_TYPES = frozenset({REGULAR, AREGULAR, CONTIGUOUS})
HEADER_ONLY = frozenset({HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO})


class TarFormatError(InvalidArgument):
    """The stream is not a well-formed tar archive."""


class TarEntry:
    """One member: the name as stored (bytes, not yet cleaned), numeric ids, times in ns."""

    __slots__ = (
        "devmajor",
        "devminor",
        "gid",
        "linkname",
        "mode",
        "mtime_ns",
        "name",
        "size",
        "type",
        "uid",
        "xattrs",
    )

    def __init__(
        self,
        name: bytes,
        type: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        size: int = 0,
        mtime_ns: int = 0,
        linkname: bytes = b"",
        devmajor: int = 0,
        devminor: int = 0,
        xattrs: dict[bytes, bytes] | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime_ns = mtime_ns
        self.linkname = linkname
        self.devmajor = devmajor
        self.devminor = devminor
        self.xattrs = xattrs if xattrs is not None else {}

    @property
    def is_regular(self) -> bool:
        return self.type in REGULAR_TYPES

    def __repr__(self) -> str:
        return f"TarEntry({self.name!r}, {self.type!r}, size={self.size})"


def display(name: bytes) -> str:
    """A name for messages: decoded, with undecodable bytes escaped."""
    return name.decode("utf-8", "backslashreplace")


# -- reading ---------------------------------------------------------------------------


class _Input:
    """Bytes from an iterator of chunks, handed out as slices without copying."""

    __slots__ = ("_chunk", "_chunks", "_pos", "offset")

    def __init__(self, chunks: Iterator[bytes | memoryview]) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")
        self._pos = 0
        self.offset = 0  # bytes handed out so far

    def _fill(self) -> bool:
        while self._pos >= len(self._chunk):
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return False
            self._chunk = memoryview(chunk).cast("B")
            self._pos = 0
        return True

    def take(self, limit: int) -> memoryview:
        """Up to `limit` bytes (at least one, unless at the end)."""
        if not self._fill():
            return memoryview(b"")
        end = min(self._pos + limit, len(self._chunk))
        piece = self._chunk[self._pos : end]
        self.offset += end - self._pos
        self._pos = end
        return piece

    def read_exact(self, size: int) -> bytes | None:
        """Exactly `size` bytes; None at a clean end; TarFormatError if cut short."""
        if self._fill() and len(self._chunk) - self._pos >= size:
            start = self._pos
            self._pos += size
            self.offset += size
            return self._chunk[start : self._pos].tobytes()
        parts = []
        wanted = size
        while wanted:
            piece = self.take(wanted)
            if not piece:
                if wanted == size:
                    return None
                raise TarFormatError("tar archive is truncated")
            parts.append(piece.tobytes())
            wanted -= len(piece)
        return b"".join(parts)

    def skip(self, size: int) -> None:
        while size:
            piece = self.take(size)
            if not piece:
                raise TarFormatError("tar archive is truncated")
            size -= len(piece)


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = _cstring(field).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"invalid {what} field {field!r} in a tar header") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + sum(block[156:]) + 8 * 0x20
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 0x20
    return stored == signed


def _pax_time_ns(value: bytes) -> int:
    text = value.decode("ascii", "replace").strip()
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    whole, _, fraction = text.partition(".")
    try:
        ns = int(whole or "0") * 1_000_000_000 + int((fraction + "000000000")[:9] or "0")
    except ValueError:
        raise TarFormatError(f"invalid PAX time {value!r}") from None
    return -ns if negative else ns


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # some writers pad the record block with NULs
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise TarFormatError("invalid PAX record: no length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("invalid PAX record length") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1] != 0x0A:
            raise TarFormatError("invalid PAX record")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise TarFormatError("invalid PAX record: no '='")
        records[key] = value
        pos = end
    return records


def _pax_int(value: bytes, key: bytes) -> int:
    try:
        number = int(value)
    except ValueError:
        raise TarFormatError(f"invalid PAX {key.decode()} {value!r}") from None
    if number < 0:
        raise TarFormatError(f"invalid PAX {key.decode()} {value!r}")
    return number


class TarReader:
    """Iterate over the entries of a tar stream. After each entry is yielded, its data can
    be read with `data()`; whatever is not read is skipped when iteration continues."""

    def __init__(self, chunks: Iterator[bytes | memoryview]) -> None:
        self._input = _Input(chunks)
        self._remaining = 0
        self._padding = 0
        self._global: dict[bytes, bytes] = {}

    @property
    def offset(self) -> int:
        return self._input.offset

    def data(self) -> Iterator[memoryview]:
        """The current entry's data, in pieces (views valid until the next piece)."""
        while self._remaining:
            piece = self._input.take(self._remaining)
            if not piece:
                raise TarFormatError("tar archive is truncated inside a file")
            self._remaining -= len(piece)
            yield piece

    def __iter__(self) -> Iterator[TarEntry]:
        pax: dict[bytes, bytes] = {}
        longname: bytes | None = None
        longlink: bytes | None = None
        extended = 0
        while True:
            if self._remaining or self._padding:
                self._input.skip(self._remaining + self._padding)
                self._remaining = self._padding = 0
            block = self._input.read_exact(BLOCK)
            if block is None:
                return  # no end-of-archive blocks: accepted, as Go and GNU tar do
            if block == ZERO_BLOCK:
                return  # end of archive (the caller drains what follows)
            if not _checksum_ok(block):
                raise TarFormatError("invalid tar header checksum (not a tar archive?)")
            type = block[156:157]
            size = _number(block[124:136], "size")
            if size < 0:
                raise TarFormatError("negative size in a tar header")
            if type in (PAX_HEADER, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK):
                extended += size
                if extended > MAX_EXTENDED:
                    raise TarFormatError("tar extended headers are too large")
                data = self._input.read_exact(size) if size else b""
                if data is None:
                    raise TarFormatError("tar archive is truncated")
                self._input.skip(-size % BLOCK)
                if type == PAX_HEADER:
                    pax.update(_pax_records(data))
                elif type == PAX_GLOBAL:
                    self._global.update(_pax_records(data))
                elif type == GNU_LONGNAME:
                    longname = _cstring(data)
                else:
                    longlink = _cstring(data)
                continue
            entry = self._entry(block, type, size, pax, longname, longlink)
            pax = {}
            longname = longlink = None
            extended = 0
            if type in HEADER_ONLY:
                entry.size = 0  # these carry no data whatever the size field says (as Go)
            self._remaining = entry.size
            self._padding = -entry.size % BLOCK
            yield entry

    def _entry(
        self,
        block: bytes,
        type: bytes,
        size: int,
        local: dict[bytes, bytes],
        longname: bytes | None,
        longlink: bytes | None,
    ) -> TarEntry:
        magic = block[257:263]
        name = _cstring(block[0:100])
        if magic == b"ustar\x00":
            prefix = _cstring(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        if type == GNU_SPARSE:
            raise TarFormatError(f"sparse file {display(name)!r}: sparse files are not supported")
        pax = {**self._global, **local} if self._global else local
        entry = TarEntry(
            longname if longname is not None else name,
            type,
            mode=_number(block[100:108], "mode") & 0o7777,
            uid=_number(block[108:116], "uid"),
            gid=_number(block[116:124], "gid"),
            size=size,
            mtime_ns=_number(block[136:148], "mtime") * 1_000_000_000,
            linkname=longlink if longlink is not None else _cstring(block[157:257]),
            devmajor=_number(block[329:337], "devmajor") if type in (CHAR, BLOCKDEV) else 0,
            devminor=_number(block[337:345], "devminor") if type in (CHAR, BLOCKDEV) else 0,
        )
        if pax:
            _apply_pax(entry, pax)
        return entry


def _apply_pax(entry: TarEntry, pax: dict[bytes, bytes]) -> None:
    for key, value in pax.items():
        if not value:
            continue  # an empty value deletes a global one: nothing to apply
        if key == b"path":
            entry.name = value
        elif key == b"linkpath":
            entry.linkname = value
        elif key == b"size":
            entry.size = _pax_int(value, key)
        elif key == b"uid":
            entry.uid = _pax_int(value, key)
        elif key == b"gid":
            entry.gid = _pax_int(value, key)
        elif key == b"mtime":
            entry.mtime_ns = _pax_time_ns(value)
        elif key.startswith(b"SCHILY.xattr."):
            entry.xattrs[key[13:]] = value
        elif key.startswith(b"LIBARCHIVE.xattr."):
            attr = urllib.parse.unquote_to_bytes(key[17:])
            try:
                entry.xattrs[attr] = base64.b64decode(value + b"=" * (-len(value) % 4))
            except ValueError:
                raise TarFormatError(f"invalid LIBARCHIVE.xattr value for {attr!r}") from None
        elif key == b"SCHILY.devmajor":
            entry.devmajor = _pax_int(value, key)
        elif key == b"SCHILY.devminor":
            entry.devminor = _pax_int(value, key)
        elif key.startswith(b"GNU.sparse."):
            raise TarFormatError(
                f"sparse file {display(entry.name)!r}: sparse files are not supported"
            )


# -- writing ---------------------------------------------------------------------------

_MAX_OCTAL = {8: 0o7777777, 12: 0o77777777777}


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits(value: int, width: int) -> bool:
    return 0 <= value <= _MAX_OCTAL[width]


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a ustar header, or None if the name does not fit."""
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    for index in range(len(name) - 1, 0, -1):
        if name[index] == 0x2F and index <= 155 and len(name) - index - 1 <= 100:
            if len(name) - index - 1 == 0:
                return None
            return name[:index], name[index + 1 :]
    return None


class TarWriter:
    """Write tar entries as Go's archive/tar (and so Docker) does: ustar headers, with a
    PAX header before an entry when a field does not fit or it carries xattrs."""

    def __init__(self, write: Callable[[bytes | memoryview], object]) -> None:
        self._write = write
        self._pending = 0  # data bytes the current entry still expects
        self._padding = 0

    def add(self, entry: TarEntry) -> None:
        if self._pending:
            raise InvalidArgument("tar entry data is incomplete")
        self._write(b"\0" * self._padding)
        pax: list[tuple[bytes, bytes]] = []
        name = entry.name
        split = _split_ustar(name) if name.isascii() else None
        if split is None:
            pax.append((b"path", name))
            split = (b"", name[:100])
        linkname = entry.linkname
        if len(linkname) > 100 or not linkname.isascii():
            pax.append((b"linkpath", linkname))
            linkname = linkname[:100]
        size = entry.size if entry.is_regular else 0
        fields = {"uid": entry.uid, "gid": entry.gid}
        for key, value in fields.items():
            if not _fits(value, 8):
                pax.append((key.encode(), str(value).encode()))
        if not _fits(size, 12):
            pax.append((b"size", str(size).encode()))
        mtime = entry.mtime_ns // 1_000_000_000
        if not _fits(mtime, 12):
            pax.append((b"mtime", str(mtime).encode()))
        for attr in sorted(entry.xattrs):
            pax.append((b"SCHILY.xattr." + attr, entry.xattrs[attr]))
        if pax:
            data = b"".join(_pax_record(key, value) for key, value in pax)
            base = name.rstrip(b"/").rsplit(b"/", 1)
            pax_name = (
                (base[0] + b"/PaxHeaders.0/" + base[1])
                if len(base) == 2
                else (b"PaxHeaders.0/" + base[0])
            )
            header = self._header(pax_name[:100], b"", PAX_HEADER, 0, 0, 0, len(data), 0, b"", 0, 0)
            self._write(header)
            self._write(data + b"\0" * (-len(data) % BLOCK))
        header = self._header(
            split[1],
            split[0],
            entry.type,
            entry.mode & 0o7777,
            entry.uid if _fits(entry.uid, 8) else 0,
            entry.gid if _fits(entry.gid, 8) else 0,
            size if _fits(size, 12) else 0,
            mtime if _fits(mtime, 12) else 0,
            linkname,
            entry.devmajor,
            entry.devminor,
        )
        self._write(header)
        self._pending = size
        self._padding = -size % BLOCK

    def write(self, data: bytes | memoryview) -> None:
        if len(data) > self._pending:
            raise InvalidArgument("more tar entry data than its header announced")
        self._pending -= len(data)
        self._write(data)

    def close(self) -> None:
        if self._pending:
            raise InvalidArgument("tar entry data is incomplete")
        self._write(b"\0" * self._padding + ZERO_BLOCK + ZERO_BLOCK)
        self._padding = 0

    @staticmethod
    def _header(
        name: bytes,
        prefix: bytes,
        type: bytes,
        mode: int,
        uid: int,
        gid: int,
        size: int,
        mtime: int,
        linkname: bytes,
        devmajor: int,
        devminor: int,
    ) -> bytes:
        block = bytearray(BLOCK)
        block[0 : len(name)] = name
        block[100:108] = _octal(mode, 8)
        block[108:116] = _octal(uid, 8)
        block[116:124] = _octal(gid, 8)
        block[124:136] = _octal(size, 12)
        block[136:148] = _octal(mtime, 12)
        block[148:156] = b" " * 8
        block[156:157] = type
        block[157 : 157 + len(linkname)] = linkname
        block[257:265] = b"ustar\x0000"
        if type in (CHAR, BLOCKDEV):
            block[329:337] = _octal(devmajor, 8)
            block[337:345] = _octal(devminor, 8)
        block[345 : 345 + len(prefix)] = prefix
        block[148:156] = b"%06o\0 " % sum(block)
        return bytes(block)
