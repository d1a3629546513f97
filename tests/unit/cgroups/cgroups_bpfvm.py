"""A small eBPF interpreter, independent of the code under test: it decodes the raw
8-byte instructions (not our Insn objects) and runs them against a
bpf_cgroup_dev_ctx, so that device programs can be checked without root or a kernel.

It implements the instructions a device filter needs (32-bit loads from the context,
ALU/ALU64 with immediates and registers, conditional and unconditional jumps, exit)
and refuses anything else, like the verifier would refuse a program it cannot follow.
"""

from __future__ import annotations

import struct

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1


class BpfError(Exception):
    pass


def _alu(op: int, dst: int, src: int, bits: int) -> int:
    mask = MASK32 if bits == 32 else MASK64
    dst &= mask
    src &= mask
    if op == 0x00:
        result = dst + src
    elif op == 0x10:
        result = dst - src
    elif op == 0x40:
        result = dst | src
    elif op == 0x50:
        result = dst & src
    elif op == 0x60:
        result = dst << (src & (bits - 1))
    elif op == 0x70:
        result = dst >> (src & (bits - 1))
    elif op == 0xB0:
        result = src
    elif op == 0xA0:
        result = dst ^ src
    else:
        raise BpfError(f"unsupported ALU op {op:#x}")
    return result & mask


def _jump_taken(op: int, dst: int, src: int) -> bool:
    if op == 0x10:
        return dst == src
    if op == 0x50:
        return dst != src
    if op == 0x40:
        return dst & src != 0
    if op == 0x20:
        return dst > src
    if op == 0x30:
        return dst >= src
    if op == 0xA0:
        return dst < src
    if op == 0xB0:
        return dst <= src
    raise BpfError(f"unsupported jump op {op:#x}")


def run(program: bytes, ctx: bytes, max_steps: int = 100_000) -> int:
    """Execute `program` with r1 pointing at `ctx`; returns r0."""
    if len(program) % 8:
        raise BpfError("program length is not a multiple of 8")
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    regs = [0] * 11
    ctx_base = 1 << 40
    regs[1] = ctx_base
    initialized = {1, 10}
    pc = 0
    for _ in range(max_steps):
        if not 0 <= pc < len(insns):
            raise BpfError(f"fell off the program at {pc}")
        code, reg_byte, off, imm = insns[pc]
        dst, src = reg_byte & 0x0F, reg_byte >> 4
        cls = code & 0x07
        pc += 1
        if cls == 0x01:  # LDX
            if code != 0x61:
                raise BpfError(f"unsupported load {code:#x}")
            if src != 1 or regs[1] != ctx_base:
                raise BpfError("loads are only allowed from the context")
            addr = regs[src] - ctx_base + off
            if addr < 0 or addr + 4 > len(ctx) or addr % 4:
                raise BpfError(f"context access out of bounds at {addr}")
            regs[dst] = struct.unpack_from("<I", ctx, addr)[0]
            initialized.add(dst)
        elif cls in (0x04, 0x07):  # ALU, ALU64
            bits = 32 if cls == 0x04 else 64
            op = code & 0xF0
            if code & 0x08:
                if src not in initialized:
                    raise BpfError(f"r{src} read before it was written")
                operand = regs[src]
            else:
                operand = imm & MASK64
            if op != 0xB0 and dst not in initialized:
                raise BpfError(f"r{dst} read before it was written")
            if dst in (1, 10) and op == 0xB0:
                raise BpfError("program overwrites r1/r10")
            regs[dst] = _alu(op, regs[dst], operand, bits)
            initialized.add(dst)
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x90:  # EXIT
                if 0 not in initialized:
                    raise BpfError("r0 not set at exit")
                return regs[0]
            if op == 0x00:  # JA
                pc += off
                continue
            if dst not in initialized:
                raise BpfError(f"r{dst} read before it was written")
            operand = regs[src] if code & 0x08 else imm & MASK64
            if _jump_taken(op, regs[dst], operand):
                pc += off
        else:
            raise BpfError(f"unsupported instruction class {cls:#x}")
    raise BpfError("program did not finish")


def device_ctx(dev_type: int, access: int, major: int, minor: int) -> bytes:
    return struct.pack("<III", (access << 16) | dev_type, major, minor)
