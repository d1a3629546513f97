"""capsa info: the facts of this host that decide how containers run here."""

from __future__ import annotations

import os
import platform
import shutil

from capsa.cgroups import detect_mode
from capsa.config import Config
from capsa.fastjson import dumps


def host_info() -> dict[str, object]:
    config = Config.default()
    runtimes = {name: shutil.which(name) for name in ("capsa-runtime", "runc", "crun")}
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            user_namespaces = int(f.read()) > 0
    except OSError:
        user_namespaces = False
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "host": {
            "kernel": platform.release(),
            "arch": platform.machine(),
            "cgroupVersion": detect_mode(),
            "userNamespaces": user_namespaces,
            "rootless": config.rootless,
            "nofile": {"soft": soft, "hard": hard},
        },
        "store": {"root": str(config.root), "runRoot": str(config.run_root)},
        "runtimes": {name: path for name, path in runtimes.items() if path},
        "version": __import__("capsa").__version__,
        "uid": os.geteuid(),
    }


def run(args: list[str]) -> int:
    info = host_info()
    if args and args[0] in ("--format", "-f") and len(args) > 1 and args[1] == "json":
        print(dumps(info, indent=2))
        return 0
    host = info["host"]
    assert isinstance(host, dict)
    print(f"kernel:       {host['kernel']} ({host['arch']})")
    print(f"cgroups:      {host['cgroupVersion']}")
    print(f"user ns:      {'yes' if host['userNamespaces'] else 'no'}")
    print(f"rootless:     {'yes' if host['rootless'] else 'no'}")
    print(f"nofile limit: soft {host['nofile']['soft']}, hard {host['nofile']['hard']}")
    store = info["store"]
    assert isinstance(store, dict)
    print(f"store:        {store['root']} (run: {store['runRoot']})")
    runtimes = info["runtimes"]
    assert isinstance(runtimes, dict)
    for name, path in runtimes.items():
        print(f"runtime:      {name} at {path}")
    return 0
