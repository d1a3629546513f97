"""Device access: `linux.resources.devices`, the allow list, applied in order.

v1: one write per rule to devices.allow or devices.deny ("c 1:3 rwm"; a rule for all
    types is written as "a", which the kernel takes as "reset to allow/deny everything").
v2: there is no devices controller; a BPF_PROG_TYPE_CGROUP_DEVICE program decides. The
    program reproduces the v1 outcome: the last rule that matches a device and an access
    (r, w or m) decides it, each requested access is checked on its own, and with no
    matching rule access is allowed (a v1 cgroup starts out allowing what its parent
    allows). A rule of type "a" matches every device and access, as on v1.
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

    from capsa.cgroups.ebpf import Assembler, Insn

FIELD = "linux.resources.devices"

# linux/bpf.h: bpf_cgroup_dev_ctx.access_type = (access << 16) | device type
DEVCG_DEV_BLOCK = 1
DEVCG_DEV_CHAR = 2
DEVCG_ACC_MKNOD = 1
DEVCG_ACC_READ = 2
DEVCG_ACC_WRITE = 4
ACCESS_BITS = {"r": DEVCG_ACC_READ, "w": DEVCG_ACC_WRITE, "m": DEVCG_ACC_MKNOD}
TYPE_CODES = {"b": DEVCG_DEV_BLOCK, "c": DEVCG_DEV_CHAR}

# Device numbers above this cannot exist (majors have 12 bits, minors 20) and would not
# fit an eBPF immediate unsigned; a v2 rule naming one matches nothing.
_MAX_IMMEDIATE = 2**31 - 1


class DeviceRule(Record):
    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(
        self, allow: bool, type: str, major: int | None, minor: int | None, access: str
    ) -> None:
        self.allow = allow
        self.type = type  # "a", "b" or "c"
        self.major = major  # None: any
        self.minor = minor  # None: any
        self.access = access  # a non-empty subset of "rwm", in that order

    def v1_line(self) -> str:
        if self.type == "a":
            return "a"
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"

    def matches(self, dev_type: str, major: int, minor: int, access: str) -> bool:
        """The v2 rule semantics for one access letter (a reference for tests)."""
        if self.type == "a":
            return True
        return (
            self.type == dev_type
            and self.major in (None, major)
            and self.minor in (None, minor)
            and access in self.access
        )


DevicesSettings = tuple[DeviceRule, ...]


def _number(obj: Mapping[str, Any], key: str, field: str) -> int | None:
    value = f.integer(obj, key, field, (-1, 2**32 - 1))
    return None if value is None or value == -1 else value


def parse_rule(item: Any, field: str) -> DeviceRule:
    obj = f.entry(item, field)
    allow = f.boolean(obj, "allow", f"{field}.allow", required=True)
    dev_type = f.string(obj, "type", f"{field}.type") or "a"
    if dev_type not in ("a", "b", "c"):
        raise field_error(f"{field}.type", f"must be 'a', 'b' or 'c', not {dev_type!r}")
    access = f.string(obj, "access", f"{field}.access") or "rwm"
    if not set(access) <= set("rwm"):
        raise field_error(f"{field}.access", f"must be letters from 'rwm', not {access!r}")
    return DeviceRule(
        allow=bool(allow),
        type=dev_type,
        major=_number(obj, "major", f"{field}.major"),
        minor=_number(obj, "minor", f"{field}.minor"),
        access="".join(c for c in "rwm" if c in access),
    )


def device_program(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> list[Insn]:
    """The eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) enforcing `rules` on cgroup v2.

    r2 = device type, r3 = requested access bits, r4 = major, r5 = minor. For each access
    bit requested, the rules are tried last to first; a deny returns 0 at once, an allow
    (or no matching rule) moves on to the next bit; when all bits pass, return 1.
    """
    from capsa.cgroups.ebpf import (
        BPF_AND,
        BPF_JEQ,
        BPF_JNE,
        BPF_RSH,
        Assembler,
        alu32_imm,
        exit_insn,
        ldx_w,
        mov64_imm,
        mov64_reg,
    )

    asm = Assembler()
    asm.emit(
        ldx_w(2, 1, 0),
        alu32_imm(BPF_AND, 2, 0xFFFF),
        ldx_w(3, 1, 0),
        alu32_imm(BPF_RSH, 3, 16),
        ldx_w(4, 1, 4),
        ldx_w(5, 1, 8),
    )
    labels = 0
    for letter in "rwm":
        bit = ACCESS_BITS[letter]
        done = f"done_{letter}"
        asm.emit(mov64_reg(6, 3), alu32_imm(BPF_AND, 6, bit))
        asm.jump(BPF_JEQ, 6, 0, done)
        for rule in reversed(rules):
            if rule.type == "a":
                _decide(asm, rule.allow, done)
                break
            if letter not in rule.access:
                continue
            if any(n is not None and n > _MAX_IMMEDIATE for n in (rule.major, rule.minor)):
                continue
            labels += 1
            skip = f"skip_{labels}"
            asm.jump(BPF_JNE, 2, TYPE_CODES[rule.type], skip)
            if rule.major is not None:
                asm.jump(BPF_JNE, 4, rule.major, skip)
            if rule.minor is not None:
                asm.jump(BPF_JNE, 5, rule.minor, skip)
            _decide(asm, rule.allow, done)
            asm.label(skip)
        asm.label(done)
    asm.emit(mov64_imm(0, 1), exit_insn())
    return asm.assemble()


def _decide(asm: Assembler, allow: bool, done: str) -> None:
    from capsa.cgroups.ebpf import BPF_JA, exit_insn, mov64_imm

    if allow:
        asm.jump(BPF_JA, 0, 0, done)
    else:
        asm.emit(mov64_imm(0, 0), exit_insn())


class DevicesController(Controller[DevicesSettings]):
    name = "devices"
    field = FIELD
    v1: ClassVar[str | None] = "devices"
    v2: ClassVar[str | None] = None

    def parse(self, resources: Mapping[str, Any]) -> DevicesSettings | None:
        items = f.array(resources, "devices", FIELD)
        if not items:
            return None
        return tuple(parse_rule(x, f"{FIELD}[{i}]") for i, x in enumerate(items))

    def v2_available(self, controllers: frozenset[str]) -> bool:
        return True  # eBPF, not a controller

    def apply_v1(self, files: CgroupFiles, directory: str, s: DevicesSettings) -> None:
        """The rules' outcome, reached with the fewest writes from what the cgroup holds
        (capsa.cgroups.devices_v1): an update never denies, even for a moment, a device
        the container keeps."""
        from capsa.cgroups import devices_v1

        current = devices_v1.parse_list(files.read(directory, "devices.list"))
        target = devices_v1.after(current, s)
        if target is None:
            writes = [(f"{FIELD}[{i}]", rule) for i, rule in enumerate(s)]
        else:
            writes = [(FIELD, rule) for rule in devices_v1.transition(current, target)]
        for field, rule in writes:
            name = "devices.allow" if rule.allow else "devices.deny"
            files.write(directory, name, rule.v1_line(), field=field)

    def apply_v2(self, files: CgroupFiles, directory: str, s: DevicesSettings) -> None:
        files.attach_device_program(directory, device_program(s), field=FIELD)


CONTROLLER = DevicesController()
