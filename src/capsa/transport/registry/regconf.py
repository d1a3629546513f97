"""registries.conf as Podman users write it (containers-registries.conf(5)): where an image
name is pulled from, which registries are plain HTTP or untrusted TLS, mirrors, blocked
registries, and the registries a short name is looked up in.

Version 2 (TOML tables):

    unqualified-search-registries = ["registry.example.com", "docker.io"]

    [[registry]]
    prefix = "example.com/foo"          # optional; defaults to location
    location = "internal.example.com/bar"
    insecure = false                    # plain HTTP, or TLS without verification
    blocked = false

    [[registry.mirror]]
    location = "mirror.example.com:5000/foo"
    insecure = true
    pull-from-mirror = "all"            # or "digest-only", "tag-only"

    [aliases]
    "busybox" = "docker.io/library/busybox"

and version 1 (`[registries.search]`, `[registries.insecure]`, `[registries.block]`, each
with `registries = [...]`). Later files override earlier ones: a [[registry]] with the same
prefix replaces the earlier one; unqualified-search-registries replaces the earlier list.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capsa.errors import InvalidArgument, PermissionDenied

PULL_ALL = "all"
PULL_DIGEST_ONLY = "digest-only"
PULL_TAG_ONLY = "tag-only"
_PULL_MODES = (PULL_ALL, PULL_DIGEST_ONLY, PULL_TAG_ONLY)


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = PULL_ALL


@dataclass(frozen=True)
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One place to try for a repository: `host` (as in image names: `docker.io`,
    `localhost:5000`), the repository path there, and whether TLS may be skipped."""

    host: str
    repository: str
    insecure: bool = False
    mirror: bool = False

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"


@dataclass(frozen=True)
class RegistriesConf:
    entries: tuple[RegistryEntry, ...] = ()
    search: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix matches `name` (`host[:port]/path`) most closely."""
        best: RegistryEntry | None = None
        best_rank = -1
        for entry in self.entries:
            rank = _match(entry.prefix, name)
            if rank > best_rank:
                best, best_rank = entry, rank
        return best

    def endpoints(
        self, host: str, repository: str, *, by_digest: bool, pull: bool
    ) -> list[Endpoint]:
        """Where to pull (`pull`) or push `host/repository`, in the order to try: the
        mirrors that apply (pull only), then the registry itself (its location
        rewritten by the matching entry). Raises PermissionDenied if it is blocked."""
        name = f"{host}/{repository}"
        entry = self.find(name)
        if entry is None:
            return [Endpoint(host, repository)]
        if entry.blocked:
            where = f" ({', '.join(str(f) for f in self.files)})" if self.files else ""
            raise PermissionDenied(
                f"registry {host} is blocked for {name} in registries.conf{where}",
                hint=f"remove blocked = true from the [[registry]] of {entry.prefix}",
            )
        rest = _remainder(entry.prefix, name)
        found: list[Endpoint] = []
        if pull:
            for mirror in entry.mirrors:
                if mirror.pull_from_mirror == PULL_DIGEST_ONLY and not by_digest:
                    continue
                if mirror.pull_from_mirror == PULL_TAG_ONLY and by_digest:
                    continue
                found.append(_endpoint(mirror.location, rest, mirror.insecure, mirror=True))
        found.append(_endpoint(entry.location, rest, entry.insecure, mirror=False))
        return found

    def insecure(self, host: str) -> bool:
        """Whether the registry `host` itself (not one of its paths) is declared insecure."""
        entry = self.find(host)
        return entry is not None and entry.insecure


def _endpoint(location: str, rest: str, insecure: bool, *, mirror: bool) -> Endpoint:
    host, _, path = location.partition("/")
    repository = "/".join(part for part in (path, rest) if part)
    return Endpoint(host, repository, insecure, mirror)


def _match(prefix: str, name: str) -> int:
    """-1 if `prefix` does not match `name`, else how specific the match is."""
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return len(prefix) if host.endswith(prefix[1:]) else -1
    if name == prefix or name.startswith(prefix + "/"):
        return len(prefix) + 1000  # a host or path prefix beats any wildcard
    return -1


def _remainder(prefix: str, name: str) -> str:
    if prefix.startswith("*."):
        return name.partition("/")[2]
    return name[len(prefix) :].lstrip("/")


def load(paths: Iterable[Path]) -> RegistriesConf:
    """Read the files that exist, in order; a missing file is no error, a malformed one
    is (it names the file and the field)."""
    entries: dict[str, RegistryEntry] = {}
    search: tuple[str, ...] = ()
    aliases: dict[str, str] = {}
    read: list[Path] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
        read.append(path)
        try:
            document = tomllib.loads(data.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"{path} is not valid TOML: {exc}", hint="see containers-registries.conf(5)"
            ) from None
        file_entries, file_search, file_aliases = _parse(document, str(path))
        for entry in file_entries:
            entries[entry.prefix] = entry
        if file_search is not None:
            search = file_search
        aliases.update(file_aliases)
    return RegistriesConf(tuple(entries.values()), search, aliases, tuple(read))


def parse_text(text: str, where: str = "registries.conf") -> RegistriesConf:
    document = tomllib.loads(text)
    entries, search, aliases = _parse(document, where)
    return RegistriesConf(tuple(entries), search or (), aliases)


def _parse(
    document: dict[str, Any], where: str
) -> tuple[list[RegistryEntry], tuple[str, ...] | None, dict[str, str]]:
    entries: list[RegistryEntry] = []
    search: tuple[str, ...] | None = None
    if "unqualified-search-registries" in document:
        search = tuple(_strings(document["unqualified-search-registries"], where, "search"))
    v1 = document.get("registries")
    if isinstance(v1, dict):  # version 1
        entries.extend(_parse_v1(v1, where))
        listed = v1.get("search")
        if isinstance(listed, dict) and "registries" in listed:
            search = tuple(_strings(listed["registries"], where, "registries.search"))
    raw = document.get("registry", [])
    if not isinstance(raw, list):
        raise _bad(where, "registry", "must be an array of tables ([[registry]])")
    for position, table in enumerate(raw):
        entries.append(_parse_entry(table, f"registry[{position}]", where))
    aliases_raw = document.get("aliases", {})
    if not isinstance(aliases_raw, dict) or not all(
        isinstance(v, str) for v in aliases_raw.values()
    ):
        raise _bad(where, "aliases", 'must be a table of name = "registry/name"')
    return entries, search, dict(aliases_raw)


def _parse_entry(table: object, field_name: str, where: str) -> RegistryEntry:
    if not isinstance(table, dict):
        raise _bad(where, field_name, "must be a table")
    location = table.get("location", "")
    prefix = table.get("prefix", "") or location
    if not isinstance(location, str) or not isinstance(prefix, str):
        raise _bad(where, field_name, "location and prefix must be strings")
    if not prefix:
        raise _bad(where, field_name, "needs a location or a prefix")
    if not location and not table.get("blocked", False):
        raise _bad(where, f"{field_name}.location", "is missing")
    location = location.rstrip("/")
    prefix = prefix.rstrip("/")
    insecure = _bool(table, "insecure", field_name, where)
    blocked = _bool(table, "blocked", field_name, where)
    digest_only = _bool(table, "mirror-by-digest-only", field_name, where)
    mirrors_raw = table.get("mirror", [])
    if not isinstance(mirrors_raw, list):
        raise _bad(where, f"{field_name}.mirror", "must be an array of tables")
    mirrors: list[Mirror] = []
    for index, item in enumerate(mirrors_raw):
        name = f"{field_name}.mirror[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("location"), str):
            raise _bad(where, name, "needs a location")
        mode = item.get("pull-from-mirror", PULL_DIGEST_ONLY if digest_only else PULL_ALL)
        if mode not in _PULL_MODES:
            raise _bad(
                where, f"{name}.pull-from-mirror", f"must be one of {', '.join(_PULL_MODES)}"
            )
        mirrors.append(
            Mirror(str(item["location"]).rstrip("/"), _bool(item, "insecure", name, where), mode)
        )
    return RegistryEntry(prefix, location or prefix, insecure, blocked, tuple(mirrors))


def _parse_v1(v1: dict[str, Any], where: str) -> list[RegistryEntry]:
    insecure: list[str] = []
    blocked: list[str] = []
    for key, out in (("insecure", insecure), ("block", blocked)):
        table = v1.get(key)
        if isinstance(table, dict) and "registries" in table:
            out.extend(_strings(table["registries"], where, f"registries.{key}"))
    hosts = dict.fromkeys([*insecure, *blocked])
    return [RegistryEntry(h, h, h in insecure, h in blocked) for h in hosts]


def _bool(table: dict[str, Any], key: str, field_name: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise _bad(where, f"{field_name}.{key}", "must be true or false")
    return value


def _strings(value: object, where: str, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, field_name, "must be a list of strings")
    return list(value)


def _bad(where: str, field_name: str, reason: str) -> InvalidArgument:
    return InvalidArgument(
        f"{where}: invalid {field_name}: {reason}", hint="see containers-registries.conf(5)"
    )
