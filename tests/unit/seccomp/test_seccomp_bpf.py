"""The classic-BPF assembler: encoding, label resolution, long-jump trampolines."""

from __future__ import annotations

import struct

import pytest
from seccomp_interp import JA, JMP, Filter, decode, seccomp_data

from capsa.runtime.seccomp.bpf import (
    BPF_JEQ,
    BPF_JGE,
    BPF_MAXINSNS,
    Assembler,
    Label,
    ProgramTooLarge,
)


def test_encoding_is_struct_sock_filter() -> None:
    asm = Assembler()
    asm.load_abs(4)
    asm.and_k(0xFF)
    asm.ret(0x7FFF0000)
    program = asm.assemble()
    assert program == struct.pack("<HBBI", 0x20, 0, 0, 4) + struct.pack(
        "<HBBI", 0x54, 0, 0, 0xFF
    ) + struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)


def branch_program(gap: int, *, far_true: bool, far_false: bool) -> bytes:
    """`if nr == 7 return 111 else return 222`, each branch near or `gap` instructions away."""
    asm = Assembler()
    far_t, far_f, near_t, near_f = Label(), Label(), Label(), Label()
    asm.load_abs(0)
    asm.jump(BPF_JEQ, 7, far_t if far_true else near_t, far_f if far_false else near_f)
    asm.place(near_t)
    asm.ret(111)
    asm.place(near_f)
    asm.ret(222)
    for _ in range(gap):
        asm.load_abs(0)  # never reached
    asm.place(far_t)
    asm.ret(111)
    asm.place(far_f)
    asm.ret(222)
    return asm.assemble()


@pytest.mark.parametrize("gap", [0, 1, 200, 252, 253, 254, 255, 256, 300, 1000])
@pytest.mark.parametrize(("far_true", "far_false"), [(True, False), (False, True), (True, True)])
def test_jumps_of_every_length(gap: int, far_true: bool, far_false: bool) -> None:
    program = branch_program(gap, far_true=far_true, far_false=far_false)
    bpf = Filter(program)  # passes the kernel's checks
    assert bpf.verdict(7) == 111
    assert bpf.verdict(8) == 222
    trampolines = sum(1 for insn in decode(program) if insn.code == JMP | JA)
    # From the instruction after the jump, far true is gap + 2 away and far false gap + 3,
    # plus the trampolines themselves: one can push the other branch out of reach.
    expected = 0
    for _ in range(3):
        expected = (far_true and gap + 2 + expected > 255) + (
            far_false and gap + 3 + expected > 255
        )
    assert trampolines == expected


def test_trampolines_that_push_other_jumps_out_of_reach() -> None:
    # 300 jumps to one far label: each trampoline lengthens the jumps before it.
    asm = Assembler()
    far, fallthrough = Label(), Label()
    asm.load_abs(0)
    for value in range(300):
        nxt = Label()
        asm.jump(BPF_JEQ, value, far, nxt)
        asm.place(nxt)
    asm.jump(BPF_JGE, 0, fallthrough, fallthrough)
    asm.place(fallthrough)
    asm.ret(1)
    asm.place(far)
    asm.ret(2)
    bpf = Filter(asm.assemble())
    for value in range(300):
        assert bpf.verdict(value) == 2
    assert bpf.verdict(300) == 1


def test_goto_uses_32_bit_offsets() -> None:
    asm = Assembler()
    end = Label()
    asm.goto(end)
    for _ in range(1000):
        asm.load_abs(0)
    asm.place(end)
    asm.ret(5)
    program = asm.assemble()
    assert decode(program)[0].k == 1000
    assert Filter(program).verdict(0) == 5


def test_goto_to_the_next_instruction_is_dropped() -> None:
    asm = Assembler()
    here = Label()
    asm.goto(here)
    asm.place(here)
    asm.ret(5)
    assert len(asm.assemble()) == 8


def test_goto_with_a_label_after_it_is_kept() -> None:
    asm = Assembler()
    x, y = Label(), Label()
    asm.load_abs(0)
    asm.jump(BPF_JEQ, 1, y, x)
    asm.place(x)
    asm.ret(10)
    z = Label()
    asm.goto(z)  # lands where y does: keep it, or y would point one past its place
    asm.place(y)
    asm.place(z)
    asm.ret(20)
    bpf = Filter(asm.assemble())
    assert bpf.verdict(1) == 20
    assert bpf.verdict(2) == 10


def test_backward_jump_is_refused() -> None:
    asm = Assembler()
    top, below = Label(), Label()
    asm.place(top)
    asm.load_abs(0)
    asm.jump(BPF_JEQ, 1, top, below)
    asm.place(below)
    asm.ret(0)
    with pytest.raises(ValueError, match="forward"):
        asm.assemble()


def test_jump_past_the_end_is_refused() -> None:
    asm = Assembler()
    end = Label()
    asm.goto(end)
    asm.ret(0)
    asm.place(end)
    with pytest.raises(ValueError, match="within the program"):
        asm.assemble()


def test_unplaced_label_is_refused() -> None:
    asm = Assembler()
    asm.goto(Label())
    asm.ret(0)
    with pytest.raises(ValueError, match="never placed"):
        asm.assemble()


def test_label_placed_twice_is_refused() -> None:
    asm = Assembler()
    label = Label()
    asm.place(label)
    with pytest.raises(ValueError, match="placed twice"):
        asm.place(label)


def test_program_too_large() -> None:
    asm = Assembler()
    for _ in range(BPF_MAXINSNS):
        asm.load_abs(0)
    asm.ret(0)
    with pytest.raises(ProgramTooLarge, match="4097 instructions"):
        asm.assemble()


def test_interpreter_reads_seccomp_data_fields() -> None:
    data = seccomp_data(39, 0xC000003E, [1, 2, 3, 4, 5, 1 << 40])
    assert len(data) == 64
    assert struct.unpack_from("<I", data, 56 + 4)[0] == 1 << 8
