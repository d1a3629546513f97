"""`capsa run`'s least-privilege defaults and the flags that change them, seen from
inside the container through /proc/self/status."""

from __future__ import annotations

from e2e_harness import Capsa

# Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
# NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
DEFAULT_CAPS = 0x00000000A80425FB


def _status(capsa: Capsa, *flags: str) -> dict[str, str]:
    out = capsa("run", "--rm", *flags, "busybox", "cat", "/proc/self/status").stdout
    return {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def test_defaults_are_dockers_caps_and_seccomp_filter(capsa: Capsa) -> None:
    status = _status(capsa)
    assert int(status["CapBnd"], 16) == DEFAULT_CAPS
    assert int(status["CapEff"], 16) == DEFAULT_CAPS
    assert int(status["CapInh"], 16) == 0
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "0"


def test_flags_change_caps_seccomp_and_no_new_privs(capsa: Capsa) -> None:
    dropped = _status(capsa, "--cap-drop", "ALL", "--cap-add", "chown")
    assert int(dropped["CapEff"], 16) == 1  # CAP_CHOWN is bit 0
    added = _status(capsa, "--cap-add", "SYS_ADMIN")
    assert int(added["CapEff"], 16) == DEFAULT_CAPS | (1 << 21)
    opts = _status(capsa, "--security-opt", "seccomp=unconfined", "--security-opt",
                   "no-new-privileges")  # fmt: skip
    assert opts["Seccomp"] == "0" and opts["NoNewPrivs"] == "1"
    privileged = _status(capsa, "--privileged")
    assert privileged["Seccomp"] == "0"
    assert int(privileged["CapEff"], 16) > DEFAULT_CAPS


def test_the_default_filter_refuses_what_docker_refuses(capsa: Capsa) -> None:
    # unshare(CLONE_NEWUSER...) without CAP_SYS_ADMIN: EPERM from the filter.
    done = capsa("run", "--rm", "busybox", "unshare", "-m", "true", code=1)
    assert "Operation not permitted" in done.stderr


def test_bad_security_flags_fail_at_create_and_leave_nothing(capsa: Capsa) -> None:
    bad_cap = capsa("create", "--cap-add", "NOT_A_CAP", "busybox", code=125)
    assert "NOT_A_CAP" in bad_cap.stderr and "--cap-add" in bad_cap.stderr
    bad_opt = capsa("create", "--security-opt", "colour=blue", "busybox", code=125)
    assert "colour" in bad_opt.stderr
    missing = capsa("create", "--security-opt", "seccomp=/no/such/profile.json", "busybox",
                    code=125)  # fmt: skip
    assert "/no/such/profile.json" in missing.stderr
    assert capsa.ids() == []
