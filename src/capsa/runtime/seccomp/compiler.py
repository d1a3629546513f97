"""Compile a validated seccomp Profile into a classic-BPF program.

Shape of the program:

    ld arch; jeq AUDIT_ARCH_<native> ...; jeq AUDIT_ARCH_<other> ...; ret KILL_PROCESS
    per architecture:  ld nr; binary search over syscall-number ranges, whose leaves return
                       an action or are the syscall's rule chain; the shared returns

- Unknown architectures (and, on x86_64, x32 calls when SCMP_ARCH_X32 is not listed, or the
  reverse) get libseccomp's bad-arch action, KILL. We kill the process rather than the
  thread so that a multi-threaded program cannot go on half-killed.
- The native architecture is always allowed, as libseccomp's seccomp_init() does; the
  listed `architectures` are added to it.
- Per syscall, rules apply in the order given and the first whose conditions all hold wins;
  if none does, the default action applies. (libseccomp instead merges a syscall's rules
  and ranks conflicting actions; for the profiles people write, where arg-conditional rules
  share one action, both agree. Ours is simple to predict.)
- A name absent from an architecture's table is ignored for that architecture, as runc and
  libseccomp ignore it; a name absent from every included architecture is ignored too
  (runc skips it) and reported in CompiledFilter.ignored_syscalls.
- Syscall numbers with the same outcome are merged into ranges, so a binary search over a
  Docker-sized allow list takes about as many instructions as there are ranges.
"""

from __future__ import annotations

from capsa.runtime.seccomp import tables
from capsa.runtime.seccomp.arches import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT
from capsa.runtime.seccomp.bpf import (
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    SECCOMP_DATA_ARCH,
    SECCOMP_DATA_ARGS,
    SECCOMP_DATA_NR,
    SECCOMP_RET_KILL_PROCESS,
    Assembler,
    Label,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from capsa.runtime.seccomp.arches import Arch
    from capsa.runtime.seccomp.profile import Condition, Profile, Rule

BAD_ARCH_ACTION = SECCOMP_RET_KILL_PROCESS
_UINT32 = 0xFFFFFFFF
_NR_END = 1 << 32


class _Chain:
    """The conditional rules of one syscall number, in order, then the action if none holds."""

    __slots__ = ("arg_bits", "otherwise", "rules")

    def __init__(self, rules: list[Rule], otherwise: int, arg_bits: int) -> None:
        self.rules = rules
        self.otherwise = otherwise
        self.arg_bits = arg_bits


_Target = int | _Chain  # a return value, or a rule chain to run


def compile_profile(profile: Profile, native: Arch) -> tuple[bytes, tuple[str, ...]]:
    """The packed program, and the syscall names no included architecture knows."""
    included: list[Arch] = [native]
    for arch in profile.architectures:
        if arch not in included:
            included.append(arch)
    known: set[str] = set()
    by_audit: dict[int, list[Arch]] = {}
    for arch in included:
        by_audit.setdefault(arch.audit, []).append(arch)
        known.update(getattr(tables, arch.table))

    asm = Assembler()
    asm.load_abs(SECCOMP_DATA_ARCH)
    bad_arch = Label()
    sections = [(Label(), group) for group in by_audit.values()]
    for position, (label, group) in enumerate(sections):
        otherwise = bad_arch if position == len(sections) - 1 else Label()
        asm.jump(BPF_JEQ, group[0].audit, label, otherwise)
        if otherwise is not bad_arch:
            asm.place(otherwise)
    asm.place(bad_arch)
    asm.ret(BAD_ARCH_ACTION)
    for label, group in sections:
        asm.place(label)
        _Section(asm, profile, group).emit()

    ignored = sorted({name for rule in profile.rules for name in rule.names} - known)
    return asm.assemble(), tuple(ignored)


class _Section:
    """The code for one AUDIT_ARCH value (x86_64 and x32 share one)."""

    def __init__(self, asm: Assembler, profile: Profile, group: list[Arch]) -> None:
        self.asm = asm
        self.default = profile.default_action
        self.rules = profile.rules
        self.pool: dict[int, Label] = {}
        self.segments: list[tuple[int, _Target]] = []
        plain = next((arch for arch in group if not arch.x32), None)
        x32 = next((arch for arch in group if arch.x32), None)
        self._region(0, plain)
        if group[0].audit == AUDIT_ARCH_X86_64:
            # x86_64 and x32 share an audit value; the syscall number's x32 bit tells them
            # apart, and the ABI that was not asked for gets the bad-arch action.
            self._region(X32_SYSCALL_BIT, x32)

    def _region(self, start: int, arch: Arch | None) -> None:
        """Append the segments for syscall numbers from `start` on, as `arch` numbers them.

        Segments are (first number, target) pairs in ascending order, each running to the
        next one's start; runs of numbers with the same target share a segment.
        """
        fallback = self.default if arch is not None else BAD_ARCH_ACTION
        segments = self.segments
        if segments and segments[-1][0] == start:
            segments.pop()
        if not segments or segments[-1][1] != fallback:
            segments.append((start, fallback))
        if arch is None:
            return
        previous = -2
        for nr, target in self._targets(arch):
            if nr == previous + 1:
                if segments[-1][1] != target:  # else the run goes on
                    segments.append((nr, target))
            else:
                if previous >= 0:
                    segments.append((previous + 1, fallback))
                if segments[-1][0] == nr:  # nr == start: replaces the region's fallback
                    segments.pop()
                if not segments or segments[-1][1] != target:
                    segments.append((nr, target))
            previous = nr
        if previous >= 0 and previous + 1 < _NR_END:
            segments.append((previous + 1, fallback))

    def _targets(self, arch: Arch) -> list[tuple[int, _Target]]:
        """(number, target) for the syscalls whose outcome differs from the default."""
        numbers: dict[str, int] = getattr(tables, arch.table)
        get = numbers.get
        decided: dict[int, int] = {}  # by an unconditional rule
        conditional: dict[int, list[Rule]] = {}  # rules before that one
        for rule in self.rules:
            if not rule.conditions:
                action = rule.action
                for name in rule.names:
                    nr = get(name)
                    if nr is not None and nr not in decided:
                        decided[nr] = action
                continue
            for name in rule.names:
                nr = get(name)
                if nr is None or nr in decided:
                    continue
                chain = conditional.setdefault(nr, [])
                if not chain or chain[-1] is not rule:  # a name twice, or two aliases
                    chain.append(rule)
        default = self.default
        if not conditional:
            return sorted(item for item in decided.items() if item[1] != default)
        targets: list[tuple[int, _Target]] = []
        for nr in sorted(decided.keys() | conditional.keys()):
            otherwise = decided.get(nr, default)
            rules = conditional.get(nr)
            if rules is not None and any(rule.action != otherwise for rule in rules):
                targets.append((nr, _Chain(rules, otherwise, arch.arg_bits)))
            elif otherwise != default:  # the conditions cannot change the outcome
                targets.append((nr, otherwise))
        return targets

    def _ret(self, value: int) -> Label:
        label = self.pool.get(value)
        if label is None:
            label = self.pool[value] = Label()
        return label

    def emit(self) -> None:
        segments = self.segments
        if len(segments) == 1 and not isinstance(segments[0][1], _Chain):
            self.asm.ret(segments[0][1])
            return
        self.asm.load_abs(SECCOMP_DATA_NR)
        self._subtree(0, len(segments) - 1, Label())
        for value, label in self.pool.items():
            self.asm.place(label)
            self.asm.ret(value)

    def _entry(self, low: int, high: int) -> Label:
        """Where to jump for segments[low..high]: a shared return, or code still to emit."""
        if low == high:
            target = self.segments[low][1]
            if not isinstance(target, _Chain):
                return self._ret(target)
        return Label()

    def _subtree(self, low: int, high: int, label: Label) -> None:
        """Binary search over segments[low..high], A holding the syscall number.

        A syscall's rule chain is emitted in place, at its leaf, so that the search jumps
        a short way to it and only the upper levels of the tree may need trampolines.
        """
        asm = self.asm
        if low == high:
            target = self.segments[low][1]
            if isinstance(target, _Chain):
                asm.place(label)
                self._chain(target)
            return
        asm.place(label)
        middle = (low + high + 1) // 2
        left = self._entry(low, middle - 1)
        right = self._entry(middle, high)
        asm.jump(BPF_JGE, self.segments[middle][0], right, left)
        self._subtree(low, middle - 1, left)
        self._subtree(middle, high, right)

    def _chain(self, chain: _Chain) -> None:
        asm = self.asm
        for rule in chain.rules:
            matched = self._ret(rule.action)
            failed = Label()
            for position, condition in enumerate(rule.conditions):
                last = position == len(rule.conditions) - 1
                holds = matched if last else Label()
                _condition(asm, condition, chain.arg_bits, holds, failed)
                if not last:
                    asm.place(holds)
            asm.place(failed)
        asm.ret(chain.otherwise)


def _condition(asm: Assembler, condition: Condition, bits: int, holds: Label, fails: Label) -> None:
    """Jump to `holds` if the 64-bit (or, on 32-bit ABIs, 32-bit) comparison is true."""
    low_offset = SECCOMP_DATA_ARGS + 8 * condition.arg
    high_offset = low_offset + 4
    op = condition.op
    value = condition.value
    if op == "SCMP_CMP_MASKED_EQ":
        mask, datum = value, condition.value_two
        halves: Iterable[tuple[int, int]] = [(low_offset, 0)]
        if bits == 64:
            halves = [(high_offset, 32), (low_offset, 0)]
        for offset, shift in halves:
            part_mask = (mask >> shift) & _UINT32
            part_datum = (datum >> shift) & _UINT32
            is_last = shift == 0
            next_label = holds if is_last else Label()
            if part_mask == 0:
                asm.goto(next_label if part_datum == 0 else fails)
            else:
                asm.load_abs(offset)
                asm.and_k(part_mask)
                asm.jump(BPF_JEQ, part_datum, next_label, fails)
            if not is_last:
                asm.place(next_label)
        return

    # yes/no: where "A op value" being true sends us; NE, LT and LE are the negations of
    # EQ, GE and GT.
    if op in ("SCMP_CMP_EQ", "SCMP_CMP_GT", "SCMP_CMP_GE"):
        yes, no = holds, fails
    else:
        yes, no = fails, holds
    jump = {
        "SCMP_CMP_EQ": BPF_JEQ,
        "SCMP_CMP_NE": BPF_JEQ,
        "SCMP_CMP_GT": BPF_JGT,
        "SCMP_CMP_LE": BPF_JGT,
        "SCMP_CMP_GE": BPF_JGE,
        "SCMP_CMP_LT": BPF_JGE,
    }[op]
    low = value & _UINT32
    if bits == 64:
        high = value >> 32
        low_check = Label()
        asm.load_abs(high_offset)
        if jump == BPF_JEQ:
            asm.jump(BPF_JEQ, high, low_check, no)
        elif high == 0:
            # high words: greater decides; otherwise they are equal and the low words decide.
            asm.jump(BPF_JGT, 0, yes, low_check)
        else:
            # high words: greater decides, less decides, equal leaves it to the low words.
            equal = Label()
            asm.jump(BPF_JGT, high, yes, equal)
            asm.place(equal)
            asm.jump(BPF_JEQ, high, low_check, no)
        asm.place(low_check)
    asm.load_abs(low_offset)
    asm.jump(jump, low, yes, no)
