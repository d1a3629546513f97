"""Just enough eBPF for cgroup v2 device control: instruction encoding, a tiny assembler
with labels, and the bpf(2) commands to load a BPF_PROG_TYPE_CGROUP_DEVICE program and
attach it to a cgroup (replacing the programs attached there before).

The bpf(2) wrapper lives here rather than in capsa.kernel because only cgroups use it.
capsa.ffi is imported only when a program is actually loaded.
"""

from __future__ import annotations

import os
import struct

from capsa._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Instruction classes and fields (linux/bpf_common.h, linux/bpf.h).
BPF_LDX = 0x01
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_ALU64 = 0x07
BPF_W = 0x00
BPF_MEM = 0x60
BPF_K = 0x00
BPF_X = 0x08
BPF_AND = 0x50
BPF_RSH = 0x70
BPF_MOV = 0xB0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JNE = 0x50
BPF_EXIT = 0x90

# bpf(2) commands, program and attach types, flags.
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 1 << 1

_SYSCALL_NUMBERS = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}


class Insn(Record):
    """One eBPF instruction."""

    __slots__ = ("code", "dst", "imm", "off", "src")

    def __init__(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> None:
        self.code = code
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, (self.src << 4) | self.dst, self.off, self.imm)


def ldx_w(dst: int, src: int, off: int) -> Insn:
    """dst = *(u32 *)(src + off)"""
    return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off)


def alu32_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm)


def mov64_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)


def mov64_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src)


def exit_insn() -> Insn:
    return Insn(BPF_JMP | BPF_EXIT)


class Assembler:
    """Collects instructions; jumps name a label, resolved to offsets by `assemble`."""

    def __init__(self) -> None:
        self._insns: list[Insn] = []
        self._labels: dict[str, int] = {}
        self._jumps: list[tuple[int, str]] = []

    def emit(self, *insns: Insn) -> None:
        self._insns.extend(insns)

    def jump(self, op: int, dst: int, imm: int, label: str) -> None:
        """if (dst <op> imm) goto label; op BPF_JA jumps unconditionally."""
        self._jumps.append((len(self._insns), label))
        self._insns.append(Insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm))

    def label(self, name: str) -> None:
        self._labels[name] = len(self._insns)

    def assemble(self) -> list[Insn]:
        insns = list(self._insns)
        for index, label in self._jumps:
            offset = self._labels[label] - index - 1
            if not -(2**15) <= offset < 2**15:
                raise ValueError("eBPF jump out of range")
            insns[index] = insns[index]._replace(off=offset)
        return insns


# -- the bpf(2) system call ------------------------------------------------------------


_CACHE: dict[str, Any] = {}


def _syscall() -> Any:
    if "bpf" in _CACHE:
        return _CACHE["bpf"]
    from capsa import ffi

    machine = os.uname().machine
    number = _SYSCALL_NUMBERS.get(machine)
    if number is None:
        raise OSError(38, f"bpf(2) is not known on {machine}")
    libc = ffi.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = ffi.c_long
    fn.argtypes = [ffi.c_long, ffi.c_long, ffi.c_void_p, ffi.c_ulong]

    def bpf(cmd: int, attr: Any) -> int:
        result = int(fn(number, cmd, ffi.addressof(attr), ffi.sizeof(attr)))
        if result < 0:
            err = ffi.get_errno()
            raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
        return result

    _CACHE["bpf"] = bpf
    return bpf


def _structs() -> Any:
    if "structs" in _CACHE:
        return _CACHE["structs"]
    from capsa import ffi

    class ProgLoad(ffi.Structure):
        _fields_ = [
            ("prog_type", ffi.c_uint32),
            ("insn_cnt", ffi.c_uint32),
            ("insns", ffi.c_uint64),
            ("license", ffi.c_uint64),
            ("log_level", ffi.c_uint32),
            ("log_size", ffi.c_uint32),
            ("log_buf", ffi.c_uint64),
            ("kern_version", ffi.c_uint32),
            ("prog_flags", ffi.c_uint32),
            ("prog_name", ffi.c_char * 16),
            ("prog_ifindex", ffi.c_uint32),
            ("expected_attach_type", ffi.c_uint32),
        ]

    class Attach(ffi.Structure):
        _fields_ = [
            ("target_fd", ffi.c_uint32),
            ("attach_bpf_fd", ffi.c_uint32),
            ("attach_type", ffi.c_uint32),
            ("attach_flags", ffi.c_uint32),
            ("replace_bpf_fd", ffi.c_uint32),
        ]

    class Query(ffi.Structure):
        _fields_ = [
            ("target_fd", ffi.c_uint32),
            ("attach_type", ffi.c_uint32),
            ("query_flags", ffi.c_uint32),
            ("attach_flags", ffi.c_uint32),
            ("prog_ids", ffi.c_uint64),
            ("prog_cnt", ffi.c_uint32),
            ("_pad", ffi.c_uint32),
        ]

    class GetFdById(ffi.Structure):
        _fields_ = [
            ("prog_id", ffi.c_uint32),
            ("next_id", ffi.c_uint32),
            ("open_flags", ffi.c_uint32),
        ]

    _CACHE["structs"] = (ffi, ProgLoad, Attach, Query, GetFdById)
    return _CACHE["structs"]


class VerifierError(OSError):
    """The kernel's verifier refused the program; `log` holds its explanation."""

    def __init__(self, errno_value: int, message: str, log: str) -> None:
        super().__init__(errno_value, message)
        self.log = log


def load_device_program(insns: list[Insn], license: str = "Apache-2.0") -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its file descriptor."""
    ffi, ProgLoad, _, _, _ = _structs()
    bpf = _syscall()
    code = b"".join(i.encode() for i in insns)
    code_buf = ffi.create_string_buffer(code, len(code))
    license_buf = ffi.create_string_buffer(license.encode())
    attr = ProgLoad(
        prog_type=BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt=len(insns),
        insns=ffi.addressof(code_buf),
        license=ffi.addressof(license_buf),
        prog_name=b"capsa_devices",
    )
    try:
        return int(bpf(BPF_PROG_LOAD, attr))
    except OSError as err:
        if err.errno not in (1, 13, 22):  # EPERM, EACCES, EINVAL: ask the verifier why
            raise
        log_buf = ffi.create_string_buffer(65536)
        attr.log_level = 1
        attr.log_size = len(log_buf)
        attr.log_buf = ffi.addressof(log_buf)
        try:
            return int(bpf(BPF_PROG_LOAD, attr))
        except OSError as again:
            log = log_buf.value.decode(errors="replace")
            raise VerifierError(again.errno or 0, str(again), log) from None


def attached_programs(cgroup_fd: int) -> list[int]:
    """IDs of the device programs attached directly to this cgroup."""
    ffi, _, _, Query, _ = _structs()
    bpf = _syscall()
    ids = (ffi.c_uint32 * 64)()
    attr = Query(
        target_fd=cgroup_fd,
        attach_type=BPF_CGROUP_DEVICE,
        prog_ids=ffi.addressof(ids),
        prog_cnt=len(ids),
    )
    bpf(BPF_PROG_QUERY, attr)
    return [ids[i] for i in range(attr.prog_cnt)]


def program_fd(prog_id: int) -> int:
    _, _, _, _, GetFdById = _structs()
    return int(_syscall()(BPF_PROG_GET_FD_BY_ID, GetFdById(prog_id=prog_id)))


def attach(cgroup_fd: int, prog_fd: int) -> None:
    _, _, Attach, _, _ = _structs()
    _syscall()(
        BPF_PROG_ATTACH,
        Attach(
            target_fd=cgroup_fd,
            attach_bpf_fd=prog_fd,
            attach_type=BPF_CGROUP_DEVICE,
            attach_flags=BPF_F_ALLOW_MULTI,
        ),
    )


def detach(cgroup_fd: int, prog_fd: int) -> None:
    _, _, Attach, _, _ = _structs()
    _syscall()(
        BPF_PROG_DETACH,
        Attach(target_fd=cgroup_fd, attach_bpf_fd=prog_fd, attach_type=BPF_CGROUP_DEVICE),
    )


def replace_device_program(directory: str, insns: list[Insn]) -> None:
    """Attach a new device program to the cgroup at `directory`, then detach the ones
    attached there before. Between the two steps both apply, which is never looser."""
    cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old_fds = []
        try:
            for prog_id in attached_programs(cgroup_fd):
                try:
                    old_fds.append(program_fd(prog_id))
                except FileNotFoundError:
                    continue  # detached meanwhile
            prog_fd = load_device_program(insns)
            try:
                attach(cgroup_fd, prog_fd)
            finally:
                os.close(prog_fd)
            for fd in old_fds:
                try:
                    detach(cgroup_fd, fd)
                except FileNotFoundError:
                    continue
        finally:
            for fd in old_fds:
                os.close(fd)
    finally:
        os.close(cgroup_fd)
