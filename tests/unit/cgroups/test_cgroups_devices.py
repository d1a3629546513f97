"""Device rules: v1 writes, and the v2 eBPF program run in an interpreter against a
reference model of the rule semantics (last matching rule wins, per access letter)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from cgroups_bpfvm import BpfError, device_ctx, run
from cgroups_fakehost import FakeHost, created

from capsa.cgroups import devices_v1
from capsa.cgroups.devices import (
    ACCESS_BITS,
    TYPE_CODES,
    DeviceRule,
    device_program,
    parse_rule,
)
from capsa.cgroups.ebpf import Assembler, Insn, mov64_imm

DOCKER_LIKE: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # pts/*
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"},
]


def rules(raw: list[dict[str, Any]]) -> list[DeviceRule]:
    return [parse_rule(r, f"r[{i}]") for i, r in enumerate(raw)]


def reference(
    rule_list: list[DeviceRule], dev_type: str, major: int, minor: int, access: str
) -> bool:
    """Every requested letter must be allowed by the last rule matching it (default
    allow: a new v1 cgroup allows what its parent allows)."""
    for letter in access:
        decision = True
        for rule in rule_list:
            if rule.matches(dev_type, major, minor, letter):
                decision = rule.allow
        if not decision:
            return False
    return True


def allowed(program: list[Insn], dev_type: str, major: int, minor: int, access: str) -> bool:
    bits = 0
    for letter in access:
        bits |= ACCESS_BITS[letter]
    code = b"".join(i.encode() for i in program)
    result = run(code, device_ctx(TYPE_CODES[dev_type], bits, major, minor))
    assert result in (0, 1)
    return result == 1


def test_v1_rules_on_a_new_cgroup_are_one_reset_then_what_they_add_up_to(
    hybrid: FakeHost,
) -> None:
    m = created(hybrid)
    m.apply({"devices": DOCKER_LIKE})
    d = hybrid.path("devices", "/capsa/ctr")
    # The fake cgroup lists "a *:* rwm", as a new one does: its exceptions are unknown.
    assert hybrid.files.writes == [
        (f"{d}/devices.deny", "a"),
        (f"{d}/devices.allow", "c 1:3 rwm"),
        (f"{d}/devices.allow", "c 1:5 rm"),  # the later deny of w, folded in
        (f"{d}/devices.allow", "c 136:* rwm"),
        (f"{d}/devices.allow", "c *:* m"),
        (f"{d}/devices.allow", "b *:* m"),
    ]


def test_an_update_writes_only_the_difference_and_allows_first(hybrid: FakeHost) -> None:
    m = created(hybrid)
    d = hybrid.path("devices", "/capsa/ctr")
    Path(d, "devices.list").write_text("c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n")
    hybrid.files.writes.clear()
    m.update(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            ]
        }
    )
    assert hybrid.files.writes == [
        (f"{d}/devices.allow", "c 10:200 rwm"),
        (f"{d}/devices.deny", "c 1:5 wm"),
        (f"{d}/devices.deny", "c 136:* rwm"),
    ]


def _state(default_allow: bool, **exceptions: str) -> devices_v1.DeviceState:
    keys = {}
    for name, access in exceptions.items():
        kind, major, minor = name.split("_")
        keys[(kind, None if major == "x" else int(major), None if minor == "x" else int(minor))] = (
            access
        )
    return devices_v1.DeviceState(default_allow, keys)


def test_the_model_keys_exceptions_exactly_as_the_kernel_does() -> None:
    state = _state(False, c_1_3="rwm", c_x_x="m")
    # A deny of every char device's w does not touch c 1:3: only the key c *:* matches.
    state.apply(DeviceRule(False, "c", None, None, "w"))
    assert state == _state(False, c_1_3="rwm", c_x_x="m")
    state.apply(DeviceRule(False, "c", 1, 3, "w"))
    state.apply(DeviceRule(True, "b", 8, None, "r"))
    assert state == _state(False, c_1_3="rm", c_x_x="m", b_8_x="r")
    state.apply(DeviceRule(False, "c", None, None, "m"))
    assert state == _state(False, c_1_3="rm", b_8_x="r")
    state.apply(DeviceRule(True, "a", None, None, "rwm"))
    assert state == _state(True)


def test_devices_list_round_trips() -> None:
    state = _state(False, c_1_3="rwm", c_136_x="rw", b_x_x="m")
    assert devices_v1.render(state) == "c 1:3 rwm\nc 136:* rw\nb *:* m"
    assert devices_v1.parse_list(devices_v1.render(state)) == state
    allow_all = devices_v1.parse_list("a *:* rwm\n")
    assert allow_all.default_allow and not allow_all.known


def test_without_a_reset_an_unreadable_cgroup_has_no_known_outcome() -> None:
    unknown = devices_v1.parse_list("a *:* rwm")
    assert devices_v1.after(unknown, rules([{"allow": False, "type": "c", "access": "w"}])) is None
    assert devices_v1.after(unknown, rules(DOCKER_LIKE)) is not None


def _random_rule(rng: random.Random, with_reset: bool) -> DeviceRule:
    if with_reset and rng.random() < 0.1:
        return DeviceRule(rng.random() < 0.5, "a", None, None, "rwm")
    access = "".join(c for c in "rwm" if rng.random() < 0.5) or "r"
    return DeviceRule(
        rng.random() < 0.5,
        rng.choice("bc"),
        rng.choice([None, 1, 5]),
        rng.choice([None, 3, 7]),
        access,
    )


def test_random_transitions_reach_what_the_rules_add_up_to() -> None:
    rng = random.Random(7)
    for _ in range(500):
        start = devices_v1.after(
            devices_v1.DeviceState(rng.random() < 0.5),
            [_random_rule(rng, True) for _ in range(rng.randint(0, 8))],
        )
        assert start is not None
        target = devices_v1.after(start, [_random_rule(rng, True) for _ in range(8)])
        assert target is not None
        steps = devices_v1.transition(start, target)
        reached = devices_v1.after(start, steps)
        assert reached == target, (start, target, steps)
        if start.default_allow == target.default_allow:
            assert all(step.type != "a" for step in steps)  # no reset, no gap
        allows = [step.allow for step in steps if step.type != "a"]
        assert allows == sorted(allows, reverse=True)  # every allow before any deny


def test_access_is_normalised_and_defaults_to_everything() -> None:
    (rule,) = rules([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mwr"}])
    assert rule.access == "rwm"
    (rule,) = rules([{"allow": True, "type": "b", "major": -1, "minor": 0}])
    assert rule.v1_line() == "b *:0 rwm"


def test_v2_attaches_a_program(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"devices": DOCKER_LIKE})
    assert v2.files.writes == []
    ((directory, program),) = v2.files.programs
    assert directory == v2.path("", "/capsa/ctr")
    assert allowed(program, "c", 1, 3, "rw")
    assert not allowed(program, "c", 1, 5, "w")


def test_devices_on_this_hybrid_host_use_v1(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"devices": DOCKER_LIKE[:1]})
    assert hybrid.files.programs == []


@pytest.mark.parametrize(
    ("dev_type", "major", "minor", "access", "expected"),
    [
        ("c", 1, 3, "r", True),
        ("c", 1, 3, "rwm", True),
        ("c", 1, 5, "r", True),
        ("c", 1, 5, "w", False),  # the last rule took write back
        ("c", 1, 5, "rw", False),
        ("c", 1, 7, "r", False),  # full: not listed
        ("c", 1, 7, "m", True),  # mknod of any char device
        ("c", 136, 4, "rw", True),  # pts wildcard minor
        ("b", 8, 0, "r", False),
        ("b", 8, 0, "m", True),
        ("b", 1, 3, "r", False),  # same numbers, other type
    ],
)
def test_docker_like_program(
    dev_type: str, major: int, minor: int, access: str, expected: bool
) -> None:
    program = device_program(rules(DOCKER_LIKE))
    assert allowed(program, dev_type, major, minor, access) is expected
    assert reference(rules(DOCKER_LIKE), dev_type, major, minor, access) is expected


def test_no_rules_and_allow_all() -> None:
    assert allowed(device_program([]), "c", 1, 3, "rwm")
    allow_all = rules([{"allow": True, "access": "rwm"}])
    assert allowed(device_program(allow_all), "b", 8, 0, "rwm")


def test_a_wildcard_type_rule_resets_everything_before_it() -> None:
    rule_list = rules(
        [
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": False, "type": "a", "access": "r"},  # "a" is a reset, whatever the access
        ]
    )
    program = device_program(rule_list)
    assert not allowed(program, "c", 1, 3, "w")
    assert not reference(rule_list, "c", 1, 3, "w")


def test_impossible_device_numbers_match_nothing() -> None:
    program = device_program(
        rules(
            [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 2**32 - 1, "minor": 1, "access": "rwm"},
            ]
        )
    )
    assert not allowed(program, "c", 2**32 - 1, 1, "r")


def test_random_rule_sets_match_the_reference_model() -> None:
    rng = random.Random(20240611)
    numbers = [None, 0, 1, 3, 5, 8, 136]
    for _ in range(300):
        raw: list[dict[str, Any]] = []
        for _ in range(rng.randint(0, 8)):
            rule: dict[str, Any] = {
                "allow": rng.random() < 0.5,
                "type": rng.choice(["a", "b", "c", "c", "c"]),
                "access": "".join(c for c in "rwm" if rng.random() < 0.6) or "r",
            }
            for key in ("major", "minor"):
                value = rng.choice(numbers)
                if value is not None:
                    rule[key] = value
            if rule["type"] == "a":
                rule.pop("major", None)
                rule.pop("minor", None)
            raw.append(rule)
        rule_list = rules(raw)
        program = device_program(rule_list)
        for _ in range(25):
            dev_type = rng.choice(["b", "c"])
            major = rng.choice([0, 1, 3, 5, 8, 136])
            minor = rng.choice([0, 1, 3, 5, 8])
            access = "".join(c for c in "rwm" if rng.random() < 0.5) or "m"
            assert allowed(program, dev_type, major, minor, access) == reference(
                rule_list, dev_type, major, minor, access
            ), (raw, dev_type, major, minor, access)


def test_instruction_encoding() -> None:
    # mov64 r0, 1 ; exit — the kernel's BPF_MOV64_IMM(BPF_REG_0, 1) and BPF_EXIT_INSN()
    assert mov64_imm(0, 1).encode() == bytes.fromhex("b700000001000000")
    assert Insn(0x95).encode() == bytes.fromhex("9500000000000000")
    program = device_program(rules(DOCKER_LIKE))
    assert all(len(i.encode()) == 8 for i in program)


def test_assembler_resolves_labels_both_ways() -> None:
    asm = Assembler()
    asm.label("top")
    asm.jump(0x10, 2, 0, "end")  # jeq r2, 0, end
    asm.jump(0x00, 0, 0, "top")
    asm.label("end")
    first, second = asm.assemble()
    assert first.off == 1
    assert second.off == -2


def test_interpreter_refuses_what_a_verifier_would() -> None:
    with pytest.raises(BpfError, match="r0 not set"):
        run(Insn(0x95).encode(), device_ctx(2, 2, 1, 3))
    with pytest.raises(BpfError, match="out of bounds"):
        run(
            b"".join(i.encode() for i in [Insn(0x61, 2, 1, 12), mov64_imm(0, 1), Insn(0x95)]),
            device_ctx(2, 2, 1, 3),
        )
