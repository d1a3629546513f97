"""`features`: what this runtime implements, as features.md describes."""

from __future__ import annotations

from capsa import OCI_RUNTIME_SPEC_VERSION
from capsa.oci.capabilities import CAPABILITIES
from capsa.oci.runtime_config import HOOK_KINDS, NAMESPACE_TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MOUNT_OPTIONS = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
]


def features() -> dict[str, Any]:
    from capsa.runtime.seccomp import (
        SUPPORTED_ACTIONS,
        SUPPORTED_ARCHES,
        SUPPORTED_FLAGS,
        SUPPORTED_OPERATORS,
    )

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_RUNTIME_SPEC_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.__getitem__),
            "cgroup": {
                "v1": True,
                "v2": True,
                "systemd": False,
                "systemdUser": False,
                "rdma": True,
            },
            "seccomp": {
                "enabled": True,
                "actions": list(SUPPORTED_ACTIONS),
                "operators": list(SUPPORTED_OPERATORS),
                "archs": list(SUPPORTED_ARCHES),
                "knownFlags": list(SUPPORTED_FLAGS),
                "supportedFlags": list(SUPPORTED_FLAGS),
            },
            "apparmor": {"enabled": _lsm("apparmor")},
            "selinux": {"enabled": _lsm("selinux")},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {
            "io.github.capsa.runtime.implementation": "python",
        },
    }


def _lsm(name: str) -> bool:
    try:
        with open("/sys/kernel/security/lsm") as f:
            return name in f.read().split(",")
    except OSError:
        return False
