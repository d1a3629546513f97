"""User and group ID mappings (rootless storage, user namespaces): container IDs in a
layer's headers become host IDs on disk when unpacking, and back when diffing."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from capsa.errors import InvalidArgument


@dataclass(frozen=True)
class IdRange:
    """`size` consecutive IDs starting at `container_id` inside, `host_id` outside."""

    container_id: int
    host_id: int
    size: int


def _check(ranges: Sequence[IdRange], kind: str) -> None:
    for item in ranges:
        if item.size <= 0 or item.container_id < 0 or item.host_id < 0:
            raise InvalidArgument(f"invalid {kind} mapping {item}")
    for side in ("container_id", "host_id"):
        spans = sorted((getattr(r, side), getattr(r, side) + r.size) for r in ranges)
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise InvalidArgument(f"overlapping {kind} mappings ({side.split('_')[0]} side)")


def _map(ranges: Sequence[IdRange], value: int, inward: bool) -> int | None:
    for item in ranges:
        source = item.host_id if inward else item.container_id
        if source <= value < source + item.size:
            target = item.container_id if inward else item.host_id
            return target + value - source
    return None


class IdMap:
    """A pair of UID and GID mappings. Calling it maps container IDs to host IDs."""

    def __init__(self, uids: Iterable[IdRange], gids: Iterable[IdRange]) -> None:
        self.uids = tuple(uids)
        self.gids = tuple(gids)
        _check(self.uids, "uid")
        _check(self.gids, "gid")

    @classmethod
    def from_oci(
        cls, uid_mappings: Iterable[Mapping[str, int]], gid_mappings: Iterable[Mapping[str, int]]
    ) -> IdMap:
        """From runtime-spec `linux.uidMappings` / `gidMappings` entries."""

        def ranges(items: Iterable[Mapping[str, int]]) -> list[IdRange]:
            try:
                return [IdRange(m["containerID"], m["hostID"], m["size"]) for m in items]
            except KeyError as missing:
                raise InvalidArgument(f"id mapping lacks {missing}") from None

        return cls(ranges(uid_mappings), ranges(gid_mappings))

    @classmethod
    def single(cls, host_uid: int, host_gid: int, size: int = 65536) -> IdMap:
        return cls([IdRange(0, host_uid, size)], [IdRange(0, host_gid, size)])

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        host_uid = _map(self.uids, uid, inward=False)
        host_gid = _map(self.gids, gid, inward=False)
        if host_uid is None or host_gid is None:
            which = f"uid {uid}" if host_uid is None else f"gid {gid}"
            raise InvalidArgument(
                f"{which} is not mapped to a host id",
                hint="give the store a larger id mapping (see /etc/subuid and /etc/subgid)",
            )
        return host_uid, host_gid

    def to_container(self, uid: int, gid: int) -> tuple[int, int]:
        container_uid = _map(self.uids, uid, inward=True)
        container_gid = _map(self.gids, gid, inward=True)
        # a host id outside the mapping shows as the overflow id, as the kernel does
        return (
            65534 if container_uid is None else container_uid,
            65534 if container_gid is None else container_gid,
        )

    def __call__(self, uid: int, gid: int) -> tuple[int, int]:
        return self.to_host(uid, gid)

    def __repr__(self) -> str:
        return f"IdMap(uids={list(self.uids)!r}, gids={list(self.gids)!r})"
