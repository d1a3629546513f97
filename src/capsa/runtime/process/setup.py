"""Turning the process that will become the container's program into what
`process` asks for: limits, identity, capabilities, seccomp, then execve.

Shared by the container init and by `exec`. The order follows runc's: everything that
needs privilege first, then drop the bounding set, switch user keeping capabilities,
set the final capability sets, and load seccomp last when no_new_privs allows it.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module: `signal` imports enum
import os
import resource

from capsa.errors import ContainerError, InvalidArgument, PermissionDenied, Unavailable
from capsa.kernel import caps
from capsa.kernel import process as kproc
from capsa.oci.runtime_config import PERSONALITY_DOMAINS

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def environment(process: Mapping[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in process.get("env", []):
        key, _, value = item.partition("=")
        env[key] = value
    return env


def find_executable(program: str, env: Mapping[str, str], cwd: str) -> str:
    """Resolve argv[0] as execvp would, before the fifo wait, so that `create` fails
    rather than a `start` that cannot run anything."""
    if "/" in program:
        path = program if program.startswith("/") else os.path.join(cwd, program)
        _check_executable(path, program)
        return path
    search = env.get("PATH") or DEFAULT_PATH
    for directory in search.split(":"):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ContainerError(f'exec: "{program}": executable file not found in $PATH')


def _check_executable(path: str, program: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ContainerError(f'exec: "{program}": no such file or directory') from None
    except OSError as exc:
        raise ContainerError(f'exec: "{program}": {exc.strerror}') from None
    if not os.path.isfile(path) or not st.st_mode & 0o111:
        raise ContainerError(f'exec: "{program}": permission denied')


_RLIMIT_NUMBERS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
_INFINITY = 2**64 - 1


def apply_rlimits(rlimits: Sequence[Mapping[str, Any]]) -> None:
    for index, rlimit in enumerate(rlimits):
        kind = rlimit["type"]
        soft = resource.RLIM_INFINITY if rlimit["soft"] == _INFINITY else rlimit["soft"]
        hard = resource.RLIM_INFINITY if rlimit["hard"] == _INFINITY else rlimit["hard"]
        try:
            resource.setrlimit(_RLIMIT_NUMBERS[kind], (soft, hard))
        except (OSError, ValueError) as exc:
            current = resource.getrlimit(_RLIMIT_NUMBERS[kind])
            raise PermissionDenied(
                f"cannot set process.rlimits[{index}] {kind} to soft={rlimit['soft']} "
                f"hard={rlimit['hard']}: {exc} (the caller's limit is "
                f"soft={current[0]} hard={current[1]})",
                hint="raising a hard limit needs CAP_SYS_RESOURCE; ask for at most the "
                "caller's hard limit",
            ) from None


def apply_oom_score_adj(value: int) -> None:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))


def apply_io_priority(priority: Mapping[str, Any]) -> None:
    kproc.ioprio_set(kproc.IOPRIO_CLASSES[priority["class"]], int(priority.get("priority", 0)))


def apply_scheduler(sched: Mapping[str, Any]) -> None:
    flags = 0
    for name in sched.get("flags", []):
        if name not in kproc.SCHED_FLAGS:
            raise InvalidArgument(f"invalid process.scheduler.flags: unknown flag {name!r}")
        flags |= kproc.SCHED_FLAGS[name]
    try:
        kproc.sched_setattr(
            kproc.SCHED_POLICIES[sched["policy"]],
            flags,
            int(sched.get("nice", 0)),
            int(sched.get("priority", 0)),
            int(sched.get("runtime", 0)),
            int(sched.get("deadline", 0)),
            int(sched.get("period", 0)),
        )
    except OSError as exc:
        raise ContainerError(
            f"cannot set process.scheduler {sched['policy']}: {exc.strerror}"
        ) from None


PER_LINUX32_FLAGS: dict[str, int] = {}


def apply_personality(personality: Mapping[str, Any]) -> None:
    kproc.personality(PERSONALITY_DOMAINS[personality["domain"]])


def apply_security_labels(process: Mapping[str, Any]) -> None:
    """AppArmor and SELinux labels: applied where the LSM is on, refused where it is off."""
    profile = process.get("apparmorProfile")
    if profile:
        if not _lsm_enabled("apparmor"):
            raise Unavailable(
                f"cannot apply process.apparmorProfile {profile!r}: AppArmor is not enabled "
                "on this host",
                hint="remove apparmorProfile from config.json",
            )
        with open("/proc/self/attr/apparmor/exec", "w") as f:
            f.write(f"exec {profile}")
    label = process.get("selinuxLabel")
    if label:
        if not _lsm_enabled("selinux"):
            raise Unavailable(
                f"cannot apply process.selinuxLabel {label!r}: SELinux is not enabled on this host",
                hint="remove selinuxLabel from config.json",
            )
        with open("/proc/self/attr/exec", "w") as f:
            f.write(label)


def _lsm_enabled(name: str) -> bool:
    try:
        with open("/sys/kernel/security/lsm") as f:
            return name in f.read().split(",")
    except OSError:
        return False


def switch_user(user: Mapping[str, Any], *, setgroups_allowed: bool) -> None:
    """setgroups/setresgid/setresuid, keeping capabilities across the uid change."""
    uid = int(user.get("uid", 0))
    gid = int(user.get("gid", 0))
    groups = [int(g) for g in user.get("additionalGids", [])]
    kproc.set_keepcaps(True)
    try:
        if setgroups_allowed:
            os.setgroups(groups)
        elif groups:
            raise PermissionDenied(
                "cannot set process.user.additionalGids: setgroups is denied in this user namespace"
            )
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise ContainerError(f"cannot switch to uid {uid} gid {gid}: {exc.strerror}") from None
    if "umask" in user:
        os.umask(int(user["umask"]))
    else:
        os.umask(0o022)


def capability_masks(capabilities: Mapping[str, Sequence[str]]) -> dict[str, int]:
    return {kind: caps.mask_of(capabilities.get(kind, [])) for kind in caps_sets()}


def caps_sets() -> tuple[str, ...]:
    return ("bounding", "effective", "permitted", "inheritable", "ambient")


def drop_bounding_set(capabilities: Mapping[str, Sequence[str]] | None) -> None:
    if capabilities is None:
        return
    caps.drop_bounding(caps.mask_of(capabilities.get("bounding", [])))


def apply_capabilities(capabilities: Mapping[str, Sequence[str]] | None) -> None:
    kproc.set_keepcaps(False)
    if capabilities is None:
        return
    masks = capability_masks(capabilities)
    # Names this kernel does not know cannot be set; dropping them is a no-op.
    known = (1 << (caps.last_cap() + 1)) - 1
    caps.capset(
        caps.CapSets(
            effective=masks["effective"] & known,
            permitted=masks["permitted"] & known,
            inheritable=masks["inheritable"] & known,
        )
    )
    if masks["ambient"]:
        caps.set_ambient(masks["ambient"] & known)


def reset_signals() -> None:
    """Give the program default signal dispositions and an empty mask: an ignored signal
    survives exec, and a shell cannot trap what it was started ignoring (a caller such
    as a monitor ignores SIGTERM and SIGHUP for itself, never for the container)."""
    for number in range(1, _signal.NSIG):
        if _signal.getsignal(number) == _signal.SIG_IGN:
            try:
                _signal.signal(number, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def exec_program(path: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    reset_signals()
    try:
        os.execve(path, list(args), dict(env))
    except OSError as exc:
        raise ContainerError(f'exec: "{args[0]}": {exc.strerror}') from None
