"""The memory controller: `linux.resources.memory`.

v1 files: memory.limit_in_bytes, memory.memsw.limit_in_bytes (memory+swap, as the spec's
`swap`), memory.soft_limit_in_bytes, memory.kmem.tcp.limit_in_bytes, memory.swappiness,
memory.oom_control, memory.use_hierarchy.
v2 files: memory.max, memory.swap.max (swap alone: spec swap - limit), memory.low.

As in runc, 0 in limit, reservation, swap, kernel and kernelTCP means "not set".
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller, warn
from capsa.cgroups._files import CgroupFiles, flat_keyed
from capsa.errors import Conflict, InvalidArgument, Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.memory"

# v1 reports "unlimited" as the largest page-aligned int64.
UNLIMITED_THRESHOLD = 2**62


class MemorySettings(Record):
    __slots__ = (
        "check_before_update",
        "disable_oom_killer",
        "kernel",
        "kernel_tcp",
        "limit",
        "reservation",
        "swap",
        "swappiness",
        "use_hierarchy",
    )

    def __init__(
        self,
        *,
        limit: int | None = None,
        reservation: int | None = None,
        swap: int | None = None,
        kernel: int | None = None,
        kernel_tcp: int | None = None,
        swappiness: int | None = None,
        disable_oom_killer: bool | None = None,
        use_hierarchy: bool | None = None,
        check_before_update: bool = False,
    ) -> None:
        self.limit = limit
        self.reservation = reservation
        self.swap = swap
        self.kernel = kernel
        self.kernel_tcp = kernel_tcp
        self.swappiness = swappiness
        self.disable_oom_killer = disable_oom_killer
        self.use_hierarchy = use_hierarchy
        self.check_before_update = check_before_update

    def empty(self) -> bool:
        return all(
            getattr(self, name) is None for name in self.__slots__ if name != "check_before_update"
        )


def v2_swap(swap: int | None, limit: int | None) -> int | None:
    """memory.swap.max from the spec's memory+swap value (runc's conversion).

    None: leave the file alone; -1: "max". Unlimited memory with swap unset means
    unlimited swap too, as on v1.
    """
    if limit == -1 and swap is None:
        return -1
    if swap is None or swap == -1:
        return swap
    if limit is None or limit == -1:
        raise field_error(
            f"{FIELD}.swap",
            "cannot be set without a memory limit on cgroup v2",
            hint="set linux.resources.memory.limit too",
        )
    return swap - limit


class MemoryController(Controller[MemorySettings]):
    name = "memory"
    field = FIELD
    v1: ClassVar[str | None] = "memory"
    v2: ClassVar[str | None] = "memory"

    def parse(self, resources: Mapping[str, Any]) -> MemorySettings | None:
        mem = f.section(resources, "memory")
        if mem is None:
            return None
        s = MemorySettings(
            limit=f.limit(mem, "limit", f"{FIELD}.limit"),
            reservation=f.limit(mem, "reservation", f"{FIELD}.reservation"),
            swap=f.limit(mem, "swap", f"{FIELD}.swap"),
            kernel=f.limit(mem, "kernel", f"{FIELD}.kernel"),
            kernel_tcp=f.limit(mem, "kernelTCP", f"{FIELD}.kernelTCP"),
            swappiness=f.integer(mem, "swappiness", f"{FIELD}.swappiness", f.UINT64),
            # false is the kernel's default and asks for nothing (Docker always sends it).
            disable_oom_killer=f.boolean(mem, "disableOOMKiller", f"{FIELD}.disableOOMKiller")
            or None,
            use_hierarchy=f.boolean(mem, "useHierarchy", f"{FIELD}.useHierarchy"),
            check_before_update=bool(
                f.boolean(mem, "checkBeforeUpdate", f"{FIELD}.checkBeforeUpdate")
            ),
        )
        if s.swappiness is not None and s.swappiness > 100:
            raise field_error(f"{FIELD}.swappiness", f"must be 0 to 100, not {s.swappiness}")
        if (
            s.swap is not None
            and s.swap != -1
            and s.limit is not None
            and s.limit != -1
            and s.swap < s.limit
        ):
            raise field_error(
                f"{FIELD}.swap",
                f"must be -1 or at least the memory limit ({s.limit}): it limits memory+swap",
            )
        return None if s.empty() else s

    def precheck(self, version: int, s: MemorySettings) -> None:
        if version == 2:
            v2_swap(s.swap, s.limit)
            if s.use_hierarchy is False:
                raise Unavailable(
                    f"{FIELD}.useHierarchy=false: cgroup v2 always accounts memory hierarchically"
                )

    # -- cgroup v1 -------------------------------------------------------------------

    def apply_v1(self, files: CgroupFiles, directory: str, s: MemorySettings) -> None:
        self._limit_and_swap_v1(files, directory, s.limit, s.swap)
        if s.reservation is not None:
            files.write(
                directory,
                "memory.soft_limit_in_bytes",
                str(s.reservation),
                field=f"{FIELD}.reservation",
            )
        if s.kernel is not None:
            warn(f"{FIELD}.kernel is ignored: kernel memory limits are deprecated in Linux")
        if s.kernel_tcp is not None:
            if files.exists(directory, "memory.kmem.tcp.limit_in_bytes"):
                files.write(
                    directory,
                    "memory.kmem.tcp.limit_in_bytes",
                    str(s.kernel_tcp),
                    field=f"{FIELD}.kernelTCP",
                )
            else:
                warn(f"{FIELD}.kernelTCP is ignored: this kernel has no kmem.tcp limit")
        if s.swappiness is not None:
            files.write(
                directory, "memory.swappiness", str(s.swappiness), field=f"{FIELD}.swappiness"
            )
        if s.disable_oom_killer:
            files.write(directory, "memory.oom_control", "1", field=f"{FIELD}.disableOOMKiller")
        if s.use_hierarchy is not None:
            try:
                files.write(
                    directory,
                    "memory.use_hierarchy",
                    "1" if s.use_hierarchy else "0",
                    field=f"{FIELD}.useHierarchy",
                )
            except InvalidArgument:
                if s.use_hierarchy:
                    raise
                raise Unavailable(
                    f"{FIELD}.useHierarchy=false: this kernel always accounts memory hierarchically"
                ) from None

    def _limit_and_swap_v1(
        self, files: CgroupFiles, directory: str, limit: int | None, swap: int | None
    ) -> None:
        has_memsw = files.exists(directory, "memory.memsw.limit_in_bytes")
        if swap is not None and not has_memsw:
            if swap == -1:
                swap = None  # nothing to lift: swap is not accounted at all
            else:
                raise Unavailable(
                    f"cannot set {FIELD}.swap: swap accounting is off in this kernel "
                    f"({directory}/memory.memsw.limit_in_bytes is missing)",
                    hint="boot with swapaccount=1, or leave memory.swap unset",
                )
        if limit == -1 and swap is None and has_memsw:
            # The kernel keeps memory <= memory+swap: unlimited memory needs an unlimited
            # memsw, unless it already is.
            current = int(files.read(directory, "memory.memsw.limit_in_bytes"))
            if current < UNLIMITED_THRESHOLD:
                swap = -1

        def write_limit() -> None:
            if limit is not None:
                files.write(directory, "memory.limit_in_bytes", str(limit), field=f"{FIELD}.limit")

        def write_swap() -> None:
            if swap is not None:
                files.write(
                    directory, "memory.memsw.limit_in_bytes", str(swap), field=f"{FIELD}.swap"
                )

        if limit is not None and swap is not None:
            # Keep memory <= memory+swap at every step: raise memsw first when growing.
            current_limit = int(files.read(directory, "memory.limit_in_bytes"))
            if swap == -1 or current_limit < swap:
                write_swap()
                write_limit()
                return
        write_limit()
        write_swap()

    # -- cgroup v2 -------------------------------------------------------------------

    def apply_v2(self, files: CgroupFiles, directory: str, s: MemorySettings) -> None:
        if s.check_before_update and s.limit is not None and s.limit > 0:
            usage = files.read_optional(directory, "memory.current")
            if usage is not None and int(usage) >= s.limit:
                raise Conflict(
                    f"cannot set {FIELD}.limit to {s.limit}: the cgroup already uses {usage} "
                    "bytes (checkBeforeUpdate is set)"
                )
        swap = v2_swap(s.swap, s.limit)
        if swap is not None:
            if files.exists(directory, "memory.swap.max"):
                files.write(
                    directory, "memory.swap.max", f.format_limit(swap), field=f"{FIELD}.swap"
                )
            elif swap not in (-1, 0):
                raise Unavailable(
                    f"cannot set {FIELD}.swap: swap accounting is off in this kernel "
                    f"({directory}/memory.swap.max is missing)"
                )
        if s.limit is not None:
            files.write(directory, "memory.max", f.format_limit(s.limit), field=f"{FIELD}.limit")
        if s.reservation is not None:
            files.write(
                directory, "memory.low", f.format_limit(s.reservation), field=f"{FIELD}.reservation"
            )
        if s.kernel is not None or s.kernel_tcp is not None:
            warn(f"{FIELD}.kernel and kernelTCP are ignored: cgroup v2 has no such limits")
        if s.swappiness is not None:
            warn(f"{FIELD}.swappiness is ignored: cgroup v2 has no per-cgroup swappiness")
        if s.disable_oom_killer:
            warn(f"{FIELD}.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer")


CONTROLLER = MemoryController()


# -- statistics -------------------------------------------------------------------------


def _limit_value(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    value = int(text)
    return None if value >= UNLIMITED_THRESHOLD else value


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def stats_v1(files: CgroupFiles, directory: str) -> dict[str, int | None]:
    usage = _int(files.read_optional(directory, "memory.usage_in_bytes"))
    limit = _limit_value(files.read_optional(directory, "memory.limit_in_bytes"))
    stat = flat_keyed(files.read_optional(directory, "memory.stat"))
    memsw_usage = _int(files.read_optional(directory, "memory.memsw.usage_in_bytes"))
    memsw_limit = _limit_value(files.read_optional(directory, "memory.memsw.limit_in_bytes"))
    swap_usage = None
    if memsw_usage is not None and usage is not None:
        swap_usage = max(memsw_usage - usage, 0)
    swap_limit = None
    if memsw_limit is not None and limit is not None:
        swap_limit = max(memsw_limit - limit, 0)
    return {
        "memory_usage": usage,
        "memory_limit": limit,
        "memory_max_usage": _int(files.read_optional(directory, "memory.max_usage_in_bytes")),
        "memory_cache": stat.get("total_cache", stat.get("cache")),
        "swap_usage": swap_usage,
        "swap_limit": swap_limit,
        "oom_kills": oom_kills_v1(files, directory),
    }


def oom_kills_v1(files: CgroupFiles, directory: str) -> int | None:
    return flat_keyed(files.read_optional(directory, "memory.oom_control")).get("oom_kill")


def oom_kills_v2(files: CgroupFiles, directory: str) -> int | None:
    events = files.read_optional(directory, "memory.events")
    return flat_keyed(events).get("oom_kill") if events is not None else None


def stats_v2(files: CgroupFiles, directory: str) -> dict[str, int | None]:
    stat = flat_keyed(files.read_optional(directory, "memory.stat"))
    return {
        "memory_usage": _int(files.read_optional(directory, "memory.current")),
        "memory_limit": _limit_value(files.read_optional(directory, "memory.max")),
        "memory_max_usage": _int(files.read_optional(directory, "memory.peak")),
        "memory_cache": stat.get("file"),
        "swap_usage": _int(files.read_optional(directory, "memory.swap.current")),
        "swap_limit": _limit_value(files.read_optional(directory, "memory.swap.max")),
        "oom_kills": oom_kills_v2(files, directory),
    }
