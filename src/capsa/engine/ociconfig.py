"""From user intent to an OCI runtime config: a `ContainerSpec` merged with the image's
defaults as Docker merges them (Entrypoint/Cmd, Env, WorkingDir, User, StopSignal), with
Docker's default mounts, namespaces, masked paths and least-privilege security."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from capsa.engine.spec import ContainerSpec, DeviceSpec, MountSpec
from capsa.engine.users import ResolvedUser
from capsa.errors import InvalidArgument, NotFound

OCI_VERSION = "1.1.0"  # nothing newer is used; crun 1.8 refuses "1.2.0"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM = 64 << 20
INIT_PATH = "/run/capsa-init"  # where --init's reaper is bound in the container

# Docker's (moby oci/defaults.go) masked and read-only paths.
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
ULIMIT_NAMES = (
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


@dataclass
class ResolvedMount:
    """A mount with its host source known (volumes resolved to their directory)."""

    spec: MountSpec
    source: str


@dataclass
class StartContext:
    """What the engine worked out for this start, beyond the spec and image."""

    container_id: str
    rootfs: str
    user: ResolvedUser
    mounts: list[ResolvedMount] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # /etc/hosts… -> host file
    netns: str = ""  # path to join; "" with mode none means a new one
    peer_namespaces: dict[str, str] = field(default_factory=dict)  # kind -> path
    init_binary: str = ""
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    seccomp: dict[str, Any] | None = None
    no_new_privileges: bool = False
    cgroup_v2: bool = False
    apparmor: str = ""
    selinux_label: str = ""
    masked_paths: tuple[str, ...] = MASKED_PATHS
    readonly_paths: tuple[str, ...] = READONLY_PATHS


def command_line(spec: ContainerSpec, image: dict[str, Any]) -> list[str]:
    """Docker's rule: the entrypoint (--entrypoint, else the image's) followed by the
    command (the given one, else the image's Cmd unless --entrypoint replaced the
    entrypoint)."""
    if spec.entrypoint is not None:
        entrypoint = list(spec.entrypoint)
        cmd = list(spec.command) if spec.command is not None else []
    else:
        entrypoint = list(image.get("Entrypoint") or [])
        cmd = list(spec.command) if spec.command is not None else list(image.get("Cmd") or [])
    args = entrypoint + cmd
    if not args:
        raise InvalidArgument(
            "no command given and the image has none",
            hint="give a command after the image name, or --entrypoint",
        )
    return args


def environment(spec: ContainerSpec, image: dict[str, Any], hostname: str) -> list[str]:
    """PATH (the image's, else Docker's default), HOSTNAME, the image's Env, then the
    user's -e (later keys replace earlier ones, order kept), TERM with a tty."""
    merged: dict[str, str] = {}
    merged["PATH"] = DEFAULT_PATH.split("=", 1)[1]
    if hostname:
        merged["HOSTNAME"] = hostname
    for entry in [*(image.get("Env") or []), *spec.env]:
        key, sep, value = entry.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable {entry!r}: empty name")
        merged[key] = value if sep else os.environ.get(key, "")
    if spec.tty:
        merged.setdefault("TERM", "xterm")
    return [f"{key}={value}" for key, value in merged.items()]


def working_dir(spec: ContainerSpec, image: dict[str, Any]) -> str:
    cwd = spec.workdir or image.get("WorkingDir") or "/"
    if not os.path.isabs(cwd):
        raise InvalidArgument(f"invalid working directory {cwd!r}: it must be absolute")
    return os.path.normpath(cwd)


def hostname_of(spec: ContainerSpec, container_id: str) -> str:
    if spec.uts_mode == "host" or spec.network.mode == "host":
        return ""
    return spec.hostname or container_id[:12]


def stop_signal(spec: ContainerSpec, image: dict[str, Any]) -> str:
    return spec.stop_signal or str(image.get("StopSignal") or "") or "SIGTERM"


def build_config(spec: ContainerSpec, image: dict[str, Any], ctx: StartContext) -> dict[str, Any]:
    hostname = hostname_of(spec, ctx.container_id)
    args = command_line(spec, image)
    if spec.init:
        if not ctx.init_binary:
            raise NotFound(
                "--init needs an init binary (tini) and none is installed",
                hint="apt-get install tini",
            )
        args = [INIT_PATH, "--", *args]
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {"uid": ctx.user.uid, "gid": ctx.user.gid},
        "args": args,
        "env": environment(spec, image, hostname),
        "cwd": working_dir(spec, image),
        "capabilities": ctx.capabilities,
        "noNewPrivileges": ctx.no_new_privileges,
    }
    if ctx.user.additional_gids:
        process["user"]["additionalGids"] = list(ctx.user.additional_gids)
    if spec.tty:
        process["consoleSize"] = {"height": 24, "width": 80}
    rlimits = _rlimits(spec)
    if rlimits:
        process["rlimits"] = rlimits
    if spec.resources.oom_score_adj is not None:
        process["oomScoreAdj"] = spec.resources.oom_score_adj
    if ctx.apparmor:
        process["apparmorProfile"] = ctx.apparmor
    if ctx.selinux_label:
        process["selinuxLabel"] = ctx.selinux_label
    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": spec.security.read_only},
        "mounts": _mounts(spec, ctx),
        "annotations": dict(spec.annotations),
        "linux": _linux(spec, ctx),
    }
    if hostname:
        config["hostname"] = hostname
    if spec.domainname:
        config["domainname"] = spec.domainname
    return config


def _rlimits(spec: ContainerSpec) -> list[dict[str, Any]]:
    """Only what --ulimit asks: a limit not asked for is inherited, never raised (a host
    without CAP_SYS_RESOURCE and a hard nofile of 20000 cannot give 1048576)."""
    limits = []
    for ulimit in spec.resources.ulimits:
        if ulimit.name not in ULIMIT_NAMES:
            raise InvalidArgument(
                f"invalid --ulimit {ulimit.name}: unknown limit",
                hint=f"one of {', '.join(ULIMIT_NAMES)}",
            )
        limits.append(
            {"type": f"RLIMIT_{ulimit.name.upper()}", "soft": ulimit.soft, "hard": ulimit.hard}
        )
    return limits


def _mounts(spec: ContainerSpec, ctx: StartContext) -> list[dict[str, Any]]:
    shm = spec.resources.shm_size or DEFAULT_SHM
    own_netns = spec.network.mode != "host"
    mounts: list[dict[str, Any]] = [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        }
        if own_netns
        # sysfs can only be mounted by the owner of the network namespace: bind it.
        else {
            "destination": "/sys",
            "type": "bind",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
    ]
    if spec.ipc_mode not in ("host",) and not spec.ipc_mode.startswith("container:"):
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm}"],
            }
        )
    if spec.security.privileged:
        for mount in mounts:
            if mount["destination"] in ("/sys", "/sys/fs/cgroup"):
                mount["options"] = [o for o in mount["options"] if o != "ro"] + ["rw"]
    user_targets = {os.path.normpath(m.spec.target) for m in ctx.mounts}
    for destination, source in ctx.files.items():
        if destination not in user_targets:
            mounts.append(
                {
                    "destination": destination,
                    "type": "bind",
                    "source": source,
                    "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"],
                }
            )
    if spec.init and ctx.init_binary:
        mounts.append(
            {
                "destination": INIT_PATH,
                "type": "bind",
                "source": ctx.init_binary,
                "options": ["bind", "ro", "nosuid", "nodev"],
            }
        )
    mounts.extend(_user_mount(m) for m in ctx.mounts)
    # A user's mount over a default one replaces it (Docker: -v /dev/shm, --tmpfs /run).
    result: list[dict[str, Any]] = []
    for mount in mounts:
        result = [m for m in result if m["destination"] != mount["destination"]]
        result.append(mount)
    return result


def _user_mount(mount: ResolvedMount) -> dict[str, Any]:
    spec = mount.spec
    if spec.type == "tmpfs":
        options = ["nosuid", "nodev", "noexec"] if not spec.options else []
        options += list(spec.options)
        options.append(f"mode={oct(spec.tmpfs_mode or 0o1777)[2:]}")
        if spec.tmpfs_size:
            options.append(f"size={spec.tmpfs_size}")
        if spec.readonly:
            options.append("ro")
        return {"destination": spec.target, "type": "tmpfs", "source": "tmpfs", "options": options}
    options = ["rbind" if spec.bind_recursive else "bind"]
    options.append("ro" if spec.readonly else "rw")
    options.append(spec.propagation or "rprivate")
    options += list(spec.options)
    return {"destination": spec.target, "type": "bind", "source": mount.source, "options": options}


def _linux(spec: ContainerSpec, ctx: StartContext) -> dict[str, Any]:
    security = spec.security
    linux: dict[str, Any] = {
        "namespaces": _namespaces(spec, ctx),
        "resources": _resources(spec),
        "cgroupsPath": f"{spec.cgroup_parent or '/capsa'}/{ctx.container_id}",
    }
    if security.privileged:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        linux["devices"] = host_devices()
    # --privileged leaves these empty unless --security-opt mask= names paths.
    linux["maskedPaths"] = list(ctx.masked_paths)
    linux["readonlyPaths"] = list(ctx.readonly_paths)
    if security.devices:
        devices = linux.setdefault("devices", [])
        for device in security.devices:
            entry, rule = device_entry(device)
            devices.append(entry)
            linux["resources"]["devices"].append(rule)
    if ctx.seccomp is not None:
        linux["seccomp"] = ctx.seccomp
    if security.sysctls:
        linux["sysctl"] = dict(security.sysctls)
    propagations = {m.spec.propagation for m in ctx.mounts}
    if propagations & {"shared", "rshared"}:
        linux["rootfsPropagation"] = "rshared"
    elif propagations & {"slave", "rslave"}:
        linux["rootfsPropagation"] = "rslave"
    return linux


def _namespaces(spec: ContainerSpec, ctx: StartContext) -> list[dict[str, Any]]:
    namespaces: list[dict[str, Any]] = [{"type": "mount"}]

    def add(kind: str, mode: str) -> None:
        if mode == "host":
            return
        path = ctx.peer_namespaces.get(kind, "")
        namespaces.append({"type": kind, "path": path} if path else {"type": kind})

    add("pid", spec.pid_mode)
    add("ipc", spec.ipc_mode)
    add("uts", spec.uts_mode)
    network_mode = "host" if spec.network.mode == "host" else ""
    if ctx.netns:
        namespaces.append({"type": "network", "path": ctx.netns})
    else:
        add("network", network_mode)
    cgroupns = spec.cgroupns_mode or ("private" if ctx.cgroup_v2 else "host")
    add("cgroup", "host" if cgroupns == "host" else "")
    return namespaces


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    r = spec.resources
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
        if r.memory_swap == 0:
            memory["swap"] = 2 * r.memory  # Docker: swap as big as the memory
        elif r.memory_swap > 0 or r.memory_swap == -1:
            memory["swap"] = r.memory_swap
    elif r.memory_swap:
        raise InvalidArgument("--memory-swap needs --memory as well")
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if r.memory_swappiness >= 0:
        memory["swappiness"] = r.memory_swappiness
    if r.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        resources["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = r.nano_cpus * 100000 // 10**9
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        resources["cpu"] = cpu
    if r.pids_limit > 0:
        resources["pids"] = {"limit": r.pids_limit}
    if r.blkio_weight:
        resources["blockIO"] = {"weight": r.blkio_weight}
    return resources


def device_entry(device: DeviceSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """--device: the linux.devices entry and the cgroup rule that allows it."""
    try:
        st = os.stat(device.host_path)
    except OSError as exc:
        raise InvalidArgument(
            f"invalid --device {device.host_path}: {exc.strerror}",
            hint="give a device node that exists on this host",
        ) from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"invalid --device {device.host_path}: not a device node")
    if not device.permissions or set(device.permissions) - set("rwm"):
        raise InvalidArgument(
            f"invalid --device permissions {device.permissions!r}", hint="a mix of r, w and m"
        )
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    entry = {
        "path": device.container_path or device.host_path,
        "type": kind,
        "major": major,
        "minor": minor,
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    rule = {
        "allow": True,
        "type": kind,
        "major": major,
        "minor": minor,
        "access": device.permissions,
    }
    return entry, rule


def host_devices() -> list[dict[str, Any]]:
    """Every device node under the host's /dev (--privileged), as Docker gives them."""
    devices: list[dict[str, Any]] = []
    for directory, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in ("pts", "shm", "mqueue")]
        for name in files:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if path in ("/dev/console", "/dev/ptmx"):
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                devices.append(
                    {
                        "path": path,
                        "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                        "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev),
                        "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid,
                        "gid": st.st_gid,
                    }
                )
    return devices
