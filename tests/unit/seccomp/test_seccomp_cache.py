"""compile_seccomp_cached: one compile per profile in a process that starts many."""

from __future__ import annotations

from capsa.runtime import seccomp

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
}


def test_a_profile_is_compiled_once_and_a_different_one_again() -> None:
    first = seccomp.compile_seccomp_cached(PROFILE)
    assert seccomp.compile_seccomp_cached(dict(PROFILE)) is first
    assert first.program == seccomp.compile_seccomp(PROFILE).program
    other = {**PROFILE, "defaultAction": "SCMP_ACT_KILL"}
    assert seccomp.compile_seccomp_cached(other) is not first
