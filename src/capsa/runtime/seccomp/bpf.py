"""Classic BPF for seccomp: instruction encoding and an assembler with symbolic labels.

A conditional jump has 8-bit offsets, so it reaches at most 255 instructions ahead. The
assembler lets callers jump to any label and, where a target is too far, puts a
`BPF_JMP|BPF_JA` trampoline (32-bit offset) right after the conditional jump. Jumps only
go forward, as classic BPF requires.
"""

from __future__ import annotations

import struct

# Instruction classes, sizes, modes, operations and sources (<linux/filter.h>).
BPF_LD = 0x00
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_W = 0x00
BPF_ABS = 0x20
BPF_AND = 0x50
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_K = 0x00

BPF_MAXINSNS = 4096
MAX_JUMP = 255

# seccomp return values (<linux/seccomp.h>); the low 16 bits carry data.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

# Offsets in struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }.
# Every architecture capsa supports is little-endian: an argument's low word comes first.
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
SECCOMP_DATA_ARGS = 16

_SOCK_FILTER = struct.Struct("<HBBI")


class Label:
    """A position in the program, placed once, that jumps may target before it is placed."""

    __slots__ = ("index",)

    def __init__(self) -> None:
        self.index = -1


class _Jump:
    """A conditional jump awaiting resolution; `far_*` grow a trampoline when out of reach."""

    __slots__ = ("code", "far_false", "far_true", "jf", "jt", "k")

    def __init__(self, code: int, k: int, jt: Label, jf: Label) -> None:
        self.code = code
        self.k = k
        self.jt = jt
        self.jf = jf
        self.far_true = False
        self.far_false = False


_Insn = tuple[int, int] | tuple[Label] | _Jump  # (code, k) | (JA target,) | conditional


class ProgramTooLarge(ValueError):
    """The assembled program exceeds what the kernel accepts."""


class Assembler:
    """Collects instructions and labels, then resolves every jump into a packed program."""

    def __init__(self) -> None:
        self._insns: list[_Insn] = []
        self._last_placed = -1  # index of the latest label, which pins what precedes it

    def place(self, label: Label) -> None:
        if label.index != -1:
            raise ValueError("label placed twice")
        insns = self._insns
        if insns and insns[-1] == (label,) and self._last_placed < len(insns):
            insns.pop()  # a jump to the very next instruction; labels on it now land here
        label.index = self._last_placed = len(insns)

    def load_abs(self, offset: int) -> None:
        self._insns.append((BPF_LD | BPF_W | BPF_ABS, offset))

    def and_k(self, mask: int) -> None:
        self._insns.append((BPF_ALU | BPF_AND | BPF_K, mask))

    def ret(self, value: int) -> None:
        self._insns.append((BPF_RET | BPF_K, value))

    def jump(self, op: int, k: int, jt: Label, jf: Label) -> None:
        """`if (A op k) goto jt; else goto jf` for op in BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET."""
        if jt is jf:
            self.goto(jt)
        else:
            self._insns.append(_Jump(BPF_JMP | op | BPF_K, k, jt, jf))

    def goto(self, target: Label) -> None:
        self._insns.append((target,))

    def assemble(self) -> bytes:
        insns = self._insns
        jumps = [(index, insn) for index, insn in enumerate(insns) if isinstance(insn, _Jump)]
        positions = self._layout()
        changed = True
        while changed:  # trampolines only lengthen jumps, so this settles
            changed = False
            for index, insn in jumps:
                base = positions[index] + 1  # offsets count from the next instruction
                if not insn.far_true and positions[_placed(insn.jt)] - base > MAX_JUMP:
                    insn.far_true = changed = True
                if not insn.far_false and positions[_placed(insn.jf)] - base > MAX_JUMP:
                    insn.far_false = changed = True
            if changed:
                positions = self._layout()
        return self._emit(positions)

    def _layout(self) -> list[int]:
        """Position of each instruction (and, at len(insns), of the end) given trampolines."""
        positions = []
        position = 0
        for insn in self._insns:
            positions.append(position)
            position += 1
            if isinstance(insn, _Jump):
                position += insn.far_true + insn.far_false
        positions.append(position)
        return positions

    def _emit(self, positions: list[int]) -> bytes:
        pack = _SOCK_FILTER.pack
        out = bytearray()
        end = positions[-1]
        for index, insn in enumerate(self._insns):
            here = positions[index]
            if isinstance(insn, _Jump):
                # Offsets count from the next instruction, where the trampolines (if any)
                # sit: `ja true` first, then `ja false`.
                true_at = positions[_placed(insn.jt)]
                false_at = positions[_placed(insn.jf)]
                base = here + 1
                after = base + insn.far_true + insn.far_false
                jt = 0 if insn.far_true else true_at - base
                jf = int(insn.far_true) if insn.far_false else false_at - base
                if min(true_at, false_at) < after or max(true_at, false_at) >= end:
                    raise ValueError("classic BPF jumps forward, within the program")
                out += pack(insn.code, jt, jf, insn.k)
                if insn.far_true:
                    out += pack(BPF_JMP | BPF_JA, 0, 0, true_at - (base + 1))
                if insn.far_false:
                    out += pack(BPF_JMP | BPF_JA, 0, 0, false_at - after)
            elif len(insn) == 1:
                target = positions[_placed(insn[0])]
                if not here < target < end:
                    raise ValueError("classic BPF jumps forward, within the program")
                offset = target - (here + 1)
                out += pack(BPF_JMP | BPF_JA, 0, 0, offset)
            else:
                out += pack(insn[0], 0, 0, insn[1])
        if len(out) // 8 > BPF_MAXINSNS:
            raise ProgramTooLarge(
                f"{len(out) // 8} instructions, more than the kernel's {BPF_MAXINSNS}"
            )
        return bytes(out)


def _placed(label: Label) -> int:
    if label.index == -1:
        raise ValueError("jump to a label that was never placed")
    return label.index
