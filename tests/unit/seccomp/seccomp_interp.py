"""A classic-BPF interpreter for seccomp programs, with the kernel's load-time checks.

`check_program` refuses what the kernel's bpf_check_classic() and seccomp_check_filter()
refuse (so a program that passes here loads there); `run` executes a program against one
`struct seccomp_data` and returns the filter's 32-bit verdict.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028
X32_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

SECCOMP_DATA_SIZE = 64
BPF_MAXINSNS = 4096
MEMWORDS = 16

# class
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
# ld/ldx size and mode
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# alu/jmp operation
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0,
)  # fmt: skip
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
RET_A = 0x10
TAX, TXA = 0x00, 0x80

_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int


class Rejected(Exception):
    """The kernel would refuse to load this program (EINVAL)."""


def decode(program: bytes) -> list[Insn]:
    if len(program) % 8:
        raise Rejected("not a whole number of instructions")
    return [Insn(*fields) for fields in struct.iter_unpack("<HBBI", program)]


_SECCOMP_ALLOWED = {
    LD | W | ABS,
    LD | W | LEN,
    LDX | W | LEN,
    RET | K,
    RET | RET_A,
    *(ALU | op | src for op in (ADD, SUB, MUL, DIV, AND, OR, XOR, LSH, RSH) for src in (K, X)),
    ALU | NEG,
    LD | IMM,
    LDX | IMM,
    MISC | TAX,
    MISC | TXA,
    LD | MEM,
    LDX | MEM,
    ST,
    STX,
    JMP | JA,
    *(JMP | op | src for op in (JEQ, JGE, JGT, JSET) for src in (K, X)),
}


def check_program(program: bytes) -> list[Insn]:
    insns = decode(program)
    if not 0 < len(insns) <= BPF_MAXINSNS:
        raise Rejected(f"{len(insns)} instructions")
    for pc, insn in enumerate(insns):
        if insn.code not in _SECCOMP_ALLOWED:
            raise Rejected(f"pc {pc}: opcode {insn.code:#x} not allowed in seccomp")
        if insn.code == LD | W | ABS and (insn.k % 4 or insn.k >= SECCOMP_DATA_SIZE):
            raise Rejected(f"pc {pc}: load at {insn.k} outside seccomp_data")
        if insn.code & 0x07 == JMP:
            if insn.code == JMP | JA:
                if insn.k >= len(insns) - pc - 1:
                    raise Rejected(f"pc {pc}: ja out of range")
            elif pc + 1 + max(insn.jt, insn.jf) >= len(insns):
                raise Rejected(f"pc {pc}: jump out of range")
        if insn.code in (LD | MEM, LDX | MEM, ST, STX) and insn.k >= MEMWORDS:
            raise Rejected(f"pc {pc}: scratch memory index {insn.k}")
        if insn.code == ALU | DIV | K and insn.k == 0:
            raise Rejected(f"pc {pc}: division by zero")
    if insns[-1].code & 0x07 != RET:
        raise Rejected("the last instruction is not a return")
    return insns


def seccomp_data(
    nr: int, arch: int = AUDIT_ARCH_X86_64, args: Sequence[int] = (), ip: int = 0
) -> bytes:
    full = [*args, *([0] * (6 - len(args)))]
    return struct.pack("<IIQ6Q", nr & _U32, arch, ip, *full)


@dataclass
class Result:
    verdict: int
    steps: int

    @property
    def action(self) -> int:
        return self.verdict & 0xFFFF0000

    @property
    def data(self) -> int:
        return self.verdict & 0xFFFF


def execute(insns: Sequence[Insn], data: bytes) -> Result:
    a = x = 0
    mem = [0] * MEMWORDS
    pc = steps = 0
    while True:
        insn = insns[pc]
        steps += 1
        code, k = insn.code, insn.k
        cls = code & 0x07
        pc += 1
        if cls == RET:
            return Result(a if code & RET_A else k, steps)
        if code == LD | W | ABS:
            (a,) = struct.unpack_from("<I", data, k)
        elif code in (LD | W | LEN, LDX | W | LEN):
            if cls == LD:
                a = SECCOMP_DATA_SIZE
            else:
                x = SECCOMP_DATA_SIZE
        elif code == LD | IMM:
            a = k
        elif code == LDX | IMM:
            x = k
        elif code == LD | MEM:
            a = mem[k]
        elif code == LDX | MEM:
            x = mem[k]
        elif code == ST:
            mem[k] = a
        elif code == STX:
            mem[k] = x
        elif code == MISC | TAX:
            x = a
        elif code == MISC | TXA:
            a = x
        elif cls == ALU:
            operand = x if code & X else k
            a = _alu(code & 0xF0, a, operand) & _U32
        elif cls == JMP:
            op = code & 0xF0
            if op == JA:
                pc += k
                continue
            operand = x if code & X else k
            taken = {
                JEQ: a == operand,
                JGT: a > operand,
                JGE: a >= operand,
                JSET: bool(a & operand),
            }[op]
            pc += insn.jt if taken else insn.jf
        else:
            raise Rejected(f"pc {pc - 1}: cannot execute {code:#x}")


def _alu(op: int, a: int, operand: int) -> int:
    if op == DIV:
        return a // operand if operand else 0
    return {
        ADD: a + operand,
        SUB: a - operand,
        MUL: a * operand,
        OR: a | operand,
        AND: a & operand,
        LSH: a << (operand & 31),
        RSH: a >> (operand & 31),
        NEG: -a,
        XOR: a ^ operand,
    }[op]


class Filter:
    """A checked program, run many times."""

    def __init__(self, program: bytes) -> None:
        self.insns = check_program(program)

    def __len__(self) -> int:
        return len(self.insns)

    def run(
        self, nr: int, arch: int = AUDIT_ARCH_X86_64, args: Sequence[int] = (), ip: int = 0
    ) -> Result:
        return execute(self.insns, seccomp_data(nr, arch, args, ip))

    def verdict(self, nr: int, arch: int = AUDIT_ARCH_X86_64, args: Sequence[int] = ()) -> int:
        return self.run(nr, arch, args).verdict


def disassemble(program: bytes) -> str:
    """One line per instruction, jump targets as absolute positions (for debugging)."""
    names = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
    lines = []
    for pc, insn in enumerate(decode(program)):
        code, k = insn.code, insn.k
        if code == LD | W | ABS:
            text = f"ld [{k}]"
        elif code == ALU | AND | K:
            text = f"and #{k:#x}"
        elif code == RET | K:
            text = f"ret #{k:#010x}"
        elif code == JMP | JA:
            text = f"ja {pc + 1 + k}"
        elif code & 0x07 == JMP and code & 0xF0 in names:
            text = f"{names[code & 0xF0]} #{k:#x}, {pc + 1 + insn.jt}, {pc + 1 + insn.jf}"
        else:
            text = f"code={code:#x} jt={insn.jt} jf={insn.jf} k={k:#x}"
        lines.append(f"{pc:4d}: {text}")
    return "\n".join(lines)
