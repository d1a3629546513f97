"""`ContainerSpec`: what the user asked for (Podman's specgen), kept apart from the OCI
config generated from it at each start. Stored as JSON in the engine database; image
defaults are *not* folded in here, so `inspect` shows what was asked and what came from
the image separately, as Docker does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")


@dataclass
class RestartPolicy:
    name: str = "no"
    max_retries: int = 0  # on-failure only; 0 means no limit


@dataclass
class Healthcheck:
    """Docker's HealthConfig. Durations in seconds; `test` as Docker stores it:
    ["CMD", argv...], ["CMD-SHELL", command] or ["NONE"]."""

    test: list[str] = field(default_factory=list)
    interval: float = 0.0
    timeout: float = 0.0
    start_period: float = 0.0
    start_interval: float = 0.0
    retries: int = 0


@dataclass
class MountSpec:
    """One -v / --mount. `type` is bind, volume or tmpfs; `source` is a host path (bind),
    a volume name ("" for an anonymous volume) or empty (tmpfs)."""

    type: str
    target: str
    source: str = ""
    readonly: bool = False
    propagation: str = ""  # bind: rprivate (default), private, rshared, shared, rslave, slave
    bind_recursive: bool = True
    create_host_path: bool = False  # -v creates a missing host dir; --mount refuses
    selinux: str = ""  # z / Z: accepted, relabelling is a no-op without SELinux
    nocopy: bool = False  # volume: do not fill an empty volume from the image
    volume_labels: dict[str, str] = field(default_factory=dict)
    volume_driver: str = ""
    volume_options: dict[str, str] = field(default_factory=dict)
    tmpfs_size: int = 0  # bytes, 0 = the kernel's default
    tmpfs_mode: int = 0  # 0 = 1777
    options: list[str] = field(default_factory=list)  # extra mount options (nosuid, exec…)


@dataclass
class Ulimit:
    name: str  # "nofile", as Docker names them (RLIMIT_ + upper-case)
    soft: int
    hard: int


@dataclass
class DeviceSpec:
    """--device HOST[:CONTAINER][:PERMS]."""

    host_path: str
    container_path: str
    permissions: str = "rwm"


@dataclass
class PortSpec:
    """-p [ip:]hostPort:containerPort[/proto] (one port; ranges are expanded)."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0  # 0: any free port


@dataclass
class Resources:
    memory: int = 0  # bytes; 0 = unlimited
    memory_swap: int = 0  # memory + swap, bytes; -1 unlimited; 0 = twice memory (Docker)
    memory_reservation: int = 0
    memory_swappiness: int = -1
    kernel_memory: int = 0
    nano_cpus: int = 0  # --cpus * 1e9
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int = 0  # 0 = unlimited (-1 too)
    blkio_weight: int = 0
    oom_kill_disable: bool = False
    oom_score_adj: int | None = None
    shm_size: int = 0  # bytes; 0 = 64 MiB
    ulimits: list[Ulimit] = field(default_factory=list)


@dataclass
class Security:
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    read_only: bool = False
    devices: list[DeviceSpec] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class Networking:
    """The network the container joins. `mode` is none, host, bridge, a network name,
    or container:NAME (which `peer` then holds as an ID)."""

    mode: str = "none"
    peer: str = ""
    networks: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    ip: str = ""
    mac_address: str = ""
    ports: list[PortSpec] = field(default_factory=list)
    publish_all: bool = False
    expose: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)  # "name:ip"


@dataclass
class ContainerSpec:
    image: str  # as the user typed it
    name: str = ""
    command: list[str] | None = None  # None: the image's Cmd
    entrypoint: list[str] | None = None  # None: the image's; [] clears it
    env: list[str] = field(default_factory=list)
    workdir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    domainname: str = ""
    init: bool = False
    tty: bool = False
    stdin_open: bool = False  # -i: keep stdin open
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Healthcheck | None = None  # None: the image's
    no_healthcheck: bool = False
    runtime: str = "capsa"
    auto_remove: bool = False
    resources: Resources = field(default_factory=Resources)
    security: Security = field(default_factory=Security)
    mounts: list[MountSpec] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)
    network: Networking = field(default_factory=Networking)
    pid_mode: str = ""  # "" private, host, container:ID
    ipc_mode: str = ""  # "" private (shareable), host, none, container:ID
    uts_mode: str = ""  # "" private, host
    cgroupns_mode: str = ""  # "" the host's default, private, host
    cgroup_parent: str = ""
    log_driver: str = "json-file"
    log_options: dict[str, str] = field(default_factory=dict)
    detach_keys: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerSpec:
        spec = _build(cls, data)
        assert isinstance(spec, ContainerSpec)
        return spec


def _build(kind: Any, data: Any) -> Any:
    """A dataclass from its asdict() form, nested dataclasses and lists of them too;
    unknown keys (from a newer capsa) are ignored."""
    factory: Callable[..., Any] = kind
    if not dataclasses.is_dataclass(kind) or not isinstance(data, dict):
        return data
    hints = _field_types(kind)
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in hints:
            continue
        values[name] = _convert(hints[name], value)
    return factory(**values)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if isinstance(hint, tuple) and hint[0] == "list" and isinstance(value, list):
        return [_convert(hint[1], item) for item in value]
    return value


_NESTED: dict[str, Any] = {}


def _field_types(kind: Any) -> dict[str, Any]:
    """Each field's nested dataclass (or ("list", dataclass)), from the annotations'
    text (they are strings under `from __future__ import annotations`)."""
    key = kind.__name__
    cached = _NESTED.get(key)
    if cached is not None:
        return dict(cached)
    names = {cls.__name__: cls for cls in _DATACLASSES}
    types: dict[str, Any] = {}
    for item in dataclasses.fields(kind):
        text = str(item.type).replace(" | None", "")
        if text in names:
            types[item.name] = names[text]
        elif text.startswith("list[") and text[5:-1] in names:
            types[item.name] = ("list", names[text[5:-1]])
        else:
            types[item.name] = None
    _NESTED[key] = types
    return dict(types)


_DATACLASSES = (
    RestartPolicy,
    Healthcheck,
    MountSpec,
    Ulimit,
    DeviceSpec,
    PortSpec,
    Resources,
    Security,
    Networking,
    ContainerSpec,
)
