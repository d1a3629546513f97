"""The flags `capsa run` and `capsa create` share, as Docker names them, turned into a
`ContainerSpec`. Every value is checked here, so a bad one fails before anything is made."""

from __future__ import annotations

import argparse
import os
import shlex

from capsa.cli._images import Parser
from capsa.engine.spec import (
    ContainerSpec,
    DeviceSpec,
    Healthcheck,
    MountSpec,
    Networking,
    PortSpec,
    Resources,
    RestartPolicy,
    Security,
    Ulimit,
)
from capsa.errors import InvalidArgument
from capsa.times import parse_duration

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


def parse_bytes(text: str, flag: str) -> int:
    from capsa.runtime.update import parse_bytes as parse

    return parse(text, flag)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("-d", "--detach", action="store_true", help="run in the background, print the ID")
    a("-i", "--interactive", action="store_true", help="keep stdin open")
    a("-t", "--tty", action="store_true", help="allocate a terminal")
    a("--rm", action="store_true", help="remove the container when it exits")
    a("--name", default="")
    a("-e", "--env", action="append", default=[])
    a("--env-file", action="append", default=[])
    a("-w", "--workdir", default="")
    a("-u", "--user", default="")
    a("--entrypoint")
    a("-l", "--label", action="append", default=[])
    a("--label-file", action="append", default=[])
    a("--annotation", action="append", default=[])
    a("-h", "--hostname", default="")
    a("--domainname", default="")
    a("--init", action="store_true", help="run an init (tini) as PID 1 that reaps zombies")
    a("--restart", default="no")
    a("--stop-signal", default="")
    a("--stop-timeout", type=int)
    a("--health-cmd")
    a("--health-interval")
    a("--health-timeout")
    a("--health-retries", type=int)
    a("--health-start-period")
    a("--health-start-interval")
    a("--no-healthcheck", action="store_true")
    a("--runtime", default="capsa", help="capsa (in-process), runc, crun or a path")
    a("-m", "--memory")
    a("--memory-swap")
    a("--memory-reservation")
    a("--memory-swappiness", type=int, default=-1)
    a("--kernel-memory")
    a("--cpus")
    a("-c", "--cpu-shares", type=int, default=0)
    a("--cpu-period", type=int, default=0)
    a("--cpu-quota", type=int, default=0)
    a("--cpuset-cpus", default="")
    a("--cpuset-mems", default="")
    a("--pids-limit", type=int, default=0)
    a("--blkio-weight", type=int, default=0)
    a("--oom-kill-disable", action="store_true")
    a("--oom-score-adj", type=int)
    a("--shm-size")
    a("--ulimit", action="append", default=[])
    a("--read-only", action="store_true")
    a("--cap-add", action="append", default=[])
    a("--cap-drop", action="append", default=[])
    a("--security-opt", action="append", default=[])
    a("--privileged", action="store_true")
    a("--device", action="append", default=[])
    a("--group-add", action="append", default=[])
    a("--sysctl", action="append", default=[])
    a("-v", "--volume", action="append", default=[])
    a("--mount", action="append", default=[])
    a("--tmpfs", action="append", default=[])
    a("--volumes-from", action="append", default=[])
    a("--network", "--net", action="append", default=[])
    a("--network-alias", "--net-alias", action="append", default=[])
    a("--ip", default="")
    a("--mac-address", default="")
    a("-p", "--publish", action="append", default=[])
    a("-P", "--publish-all", action="store_true")
    a("--expose", action="append", default=[])
    a("--dns", action="append", default=[])
    a("--dns-search", action="append", default=[])
    a("--dns-option", "--dns-opt", action="append", default=[])
    a("--add-host", action="append", default=[])
    a("--pid", default="")
    a("--ipc", default="")
    a("--uts", default="")
    a("--cgroupns", default="")
    a("--cgroup-parent", default="")
    a("--log-driver", default="json-file")
    a("--log-opt", action="append", default=[])
    a("--detach-keys", default="")
    a("-a", "--attach", action="append", default=[])
    a("--sig-proxy", default="true")
    a("--platform", default="")
    a("--pull", default="missing")
    a("-q", "--quiet", action="store_true")
    a("--help", action="help", help="show this help")
    a("image")
    a("command", nargs=argparse.REMAINDER)


_PARSERS: dict[tuple[str, str], Parser] = {}


def run_parser(prog: str, description: str) -> Parser:
    """The parser of run's flags; made once per process (it takes ~5 ms: eighty-odd
    arguments): the command server makes it before it forks, each command reuses it."""
    key = (prog, description)
    parser = _PARSERS.get(key)
    if parser is None:
        parser = Parser(prog, description, add_help=False)
        add_run_flags(parser)
        _PARSERS[key] = parser
    return parser


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {flag} {item!r}", hint="use KEY=VALUE")
        result[key] = value
    return result


def _read_env_files(paths: list[str], flag: str) -> list[str]:
    entries = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise InvalidArgument(f"cannot read {flag} {path}: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            key = text.split("=", 1)[0]
            if not key or any(c.isspace() for c in key):
                raise InvalidArgument(
                    f"invalid {flag} {path}, line {number}: variable {key!r} has white space"
                )
            entries.append(text if "=" in text else f"{key}={os.environ.get(key, '')}")
    return entries


def parse_restart(text: str) -> RestartPolicy:
    name, _, count = text.partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped"):
        raise InvalidArgument(
            f"invalid --restart {text!r}", hint="no, on-failure[:N], always or unless-stopped"
        )
    if count and name != "on-failure":
        raise InvalidArgument(f"invalid --restart {text!r}: only on-failure takes a count")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise InvalidArgument(f"invalid --restart {text!r}: {count!r} is not a number") from None
    if retries < 0:
        raise InvalidArgument(f"invalid --restart {text!r}: the count must not be negative")
    return RestartPolicy(name, retries)


def parse_ulimit(text: str) -> Ulimit:
    name, sep, values = text.partition("=")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = -1 if soft_text in ("-1", "unlimited") else int(soft_text)
        hard = (
            soft if not hard_text else (-1 if hard_text in ("-1", "unlimited") else int(hard_text))
        )
    except ValueError:
        raise InvalidArgument(f"invalid --ulimit {text!r}", hint="use NAME=SOFT[:HARD]") from None
    if not sep or not name:
        raise InvalidArgument(f"invalid --ulimit {text!r}", hint="use NAME=SOFT[:HARD]")
    unlimited = 2**64 - 1
    soft = unlimited if soft < 0 else soft
    hard = unlimited if hard < 0 else hard
    if soft > hard:
        raise InvalidArgument(f"invalid --ulimit {text!r}: soft limit {soft} is above hard {hard}")
    return Ulimit(name, soft, hard)


def parse_volume(text: str) -> MountSpec:
    """-v [SOURCE:]TARGET[:OPTIONS]: a host path (absolute) or a volume name."""
    parts = text.split(":")
    if len(parts) == 1:
        return MountSpec("volume", parts[0])
    if len(parts) > 3:
        raise InvalidArgument(f"invalid -v {text!r}", hint="use [SOURCE:]TARGET[:OPTIONS]")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if len(parts) == 2 and not target.startswith("/") and source.startswith("/"):
        # -v /path:ro is an anonymous volume with options
        return _volume_options(MountSpec("volume", source), [target], text)
    if not source:
        raise InvalidArgument(f"invalid -v {text!r}: empty source")
    if source.startswith("/") or source.startswith("."):
        mount = MountSpec("bind", target, os.path.abspath(source), create_host_path=True)
    else:
        mount = MountSpec("volume", target, source)
    return _volume_options(mount, options, text)


def _volume_options(mount: MountSpec, options: list[str], text: str) -> MountSpec:
    for option in options:
        if option in ("ro", "readonly"):
            mount.readonly = True
        elif option == "rw":
            mount.readonly = False
        elif option in ("z", "Z"):
            mount.selinux = option
        elif option == "nocopy":
            if mount.type != "volume":
                raise InvalidArgument(f"invalid -v {text!r}: nocopy is for volumes")
            mount.nocopy = True
        elif option in PROPAGATIONS:
            if mount.type != "bind":
                raise InvalidArgument(f"invalid -v {text!r}: propagation is for bind mounts")
            mount.propagation = option
        elif option in ("", "delegated", "cached", "consistent"):
            continue
        else:
            raise InvalidArgument(
                f"invalid -v {text!r}: unknown option {option!r}",
                hint="ro, rw, z, Z, nocopy, or a propagation such as rshared",
            )
    return mount


def parse_mount(text: str) -> MountSpec:
    """--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…"""
    fields: dict[str, str] = {}
    flags: set[str] = set()
    labels: dict[str, str] = {}
    volume_options: dict[str, str] = {}
    for item in _csv(text):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key in ("volume-label", "volume-opt"):
            k, _, v = value.partition("=")
            (labels if key == "volume-label" else volume_options)[k] = v
        elif sep:
            fields[key] = value
        else:
            flags.add(key)
    kind = fields.get("type", "volume")
    target = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    source = fields.get("source") or fields.get("src") or ""
    if not target:
        raise InvalidArgument(f"invalid --mount {text!r}: target is required")
    readonly = "readonly" in flags or "ro" in flags or fields.get("readonly") in ("true", "1")
    readonly = readonly or fields.get("ro") in ("true", "1")
    if kind == "bind":
        if not source:
            raise InvalidArgument(f"invalid --mount {text!r}: a bind mount needs a source")
        mount = MountSpec("bind", target, os.path.abspath(source), readonly=readonly)
        propagation = fields.get("bind-propagation", "")
        if propagation and propagation not in PROPAGATIONS:
            raise InvalidArgument(f"invalid --mount {text!r}: bind-propagation {propagation!r}")
        mount.propagation = propagation
        mount.bind_recursive = fields.get("bind-recursive", "enabled") != "disabled"
        return mount
    if kind == "volume":
        return MountSpec(
            "volume",
            target,
            source,
            readonly=readonly,
            nocopy="volume-nocopy" in flags or fields.get("volume-nocopy") == "true",
            volume_labels=labels,
            volume_driver=fields.get("volume-driver", ""),
            volume_options=volume_options,
        )
    if kind == "tmpfs":
        if source:
            raise InvalidArgument(f"invalid --mount {text!r}: a tmpfs has no source")
        mount = MountSpec("tmpfs", target, readonly=readonly)
        if "tmpfs-size" in fields:
            mount.tmpfs_size = parse_bytes(fields["tmpfs-size"], "tmpfs-size")
        if "tmpfs-mode" in fields:
            try:
                mount.tmpfs_mode = int(fields["tmpfs-mode"], 8)
            except ValueError:
                raise InvalidArgument(
                    f"invalid --mount {text!r}: tmpfs-mode must be octal"
                ) from None
        return mount
    raise InvalidArgument(
        f"invalid --mount {text!r}: unknown type {kind!r}", hint="bind, volume or tmpfs"
    )


def _csv(text: str) -> list[str]:
    import csv

    return next(csv.reader([text]))


def parse_tmpfs(text: str) -> MountSpec:
    target, _, options = text.partition(":")
    mount = MountSpec("tmpfs", target)
    extra = []
    for option in [o for o in options.split(",") if o]:
        key, _, value = option.partition("=")
        if key == "size":
            mount.tmpfs_size = parse_bytes(value, "--tmpfs size")
        elif key == "mode":
            try:
                mount.tmpfs_mode = int(value, 8)
            except ValueError:
                raise InvalidArgument(f"invalid --tmpfs {text!r}: mode must be octal") from None
        elif key == "ro":
            mount.readonly = True
        elif key == "rw":
            continue
        else:
            extra.append(option)
    if extra:
        mount.options = ["nosuid", "nodev", *extra]
    return mount


def parse_device(text: str) -> DeviceSpec:
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidArgument(f"invalid --device {text!r}", hint="use HOST[:CONTAINER][:PERMS]")
    host = parts[0]
    container = host
    permissions = "rwm"
    if len(parts) >= 2:
        if len(parts) == 2 and not parts[1].startswith("/"):
            permissions = parts[1]
        else:
            container = parts[1]
    if len(parts) == 3:
        permissions = parts[2]
    return DeviceSpec(host, container, permissions)


def parse_publish(text: str) -> list[PortSpec]:
    """-p [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]."""
    spec, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid -p {text!r}: unknown protocol {protocol!r}")
    host_ip = ""
    if spec.startswith("["):
        end = spec.find("]")
        host_ip, spec = spec[1:end], spec[end + 2 :]
    parts = spec.rsplit(":", 2)
    if len(parts) == 3:
        host_ip, host, container = parts
    elif len(parts) == 2:
        host, container = parts
    else:
        host, container = "", parts[0]
    if host_ip:
        import ipaddress

        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(
                f"invalid -p {text!r}: {host_ip!r} is not an IP address"
            ) from None
    container_ports = _port_range(container, text)
    host_ports = _port_range(host, text) if host else [0] * len(container_ports)
    if len(host_ports) != len(container_ports):
        if len(host_ports) > 1 and len(container_ports) == 1:
            host_ports = host_ports[:1]  # Docker: any free port of the range
        else:
            raise InvalidArgument(f"invalid -p {text!r}: the ranges differ in size")
    return [
        PortSpec(c, protocol, host_ip, h) for c, h in zip(container_ports, host_ports, strict=True)
    ]


def _port_range(text: str, whole: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if last else start
    except ValueError:
        raise InvalidArgument(f"invalid -p {whole!r}: {text!r} is not a port or range") from None
    if not 0 < start <= end <= 65535:
        raise InvalidArgument(f"invalid -p {whole!r}: ports are 1..65535")
    return list(range(start, end + 1))


DEFAULT_NETWORK = "bridge"  # Docker's default network


def parse_network(text: str, spec: Networking) -> None:
    """--network none|host|container:NAME|NETWORK[,NETWORK...] (default: bridge). A
    network name may be given several times (`--network a --network b`)."""
    names = [part for part in (text or DEFAULT_NETWORK).split(",") if part] or [DEFAULT_NETWORK]
    first = names[0]
    if first.startswith("container:"):
        spec.mode = "container"
        spec.peer = first.split(":", 1)[1]
        if not spec.peer:
            raise InvalidArgument("invalid --network container: needs a container name")
    elif first in ("none", "host"):
        spec.mode = first
    else:
        spec.mode = "bridge"
        spec.networks = list(dict.fromkeys(names))
        return
    if len(names) > 1:
        raise InvalidArgument(
            f"--network {first} cannot be combined with other networks",
            hint="give only bridge network names together",
        )


def _namespace_mode(text: str, flag: str, allowed: tuple[str, ...]) -> str:
    if not text or text in allowed or (text.startswith("container:") and text != "container:"):
        return text
    raise InvalidArgument(
        f"invalid {flag} {text!r}", hint=" or ".join([*allowed, "container:NAME"])
    )


def spec_from_options(options: argparse.Namespace) -> ContainerSpec:
    """The ContainerSpec the flags describe (the image is resolved later)."""
    o = options
    entrypoint: list[str] | None = None
    if o.entrypoint is not None:
        entrypoint = shlex.split(o.entrypoint) if o.entrypoint else []
    labels = {}
    for path in o.label_file:
        labels.update(_key_values(_read_env_files([path], "--label-file"), "--label-file"))
    labels.update(_key_values(o.label, "--label"))
    health = None
    if any(
        value is not None
        for value in (
            o.health_cmd,
            o.health_interval,
            o.health_timeout,
            o.health_retries,
            o.health_start_period,
            o.health_start_interval,
        )
    ):
        if o.no_healthcheck:
            raise InvalidArgument("--no-healthcheck conflicts with the --health-* options")
        health = Healthcheck(
            test=["CMD-SHELL", o.health_cmd] if o.health_cmd else [],
            interval=parse_duration(o.health_interval, "--health-interval")
            if o.health_interval
            else 0.0,
            timeout=parse_duration(o.health_timeout, "--health-timeout")
            if o.health_timeout
            else 0.0,
            start_period=parse_duration(o.health_start_period, "--health-start-period")
            if o.health_start_period
            else 0.0,
            start_interval=parse_duration(o.health_start_interval, "--health-start-interval")
            if o.health_start_interval
            else 0.0,
            retries=o.health_retries or 0,
        )
        if health.retries < 0:
            raise InvalidArgument("--health-retries must not be negative")
    resources = Resources(
        memory=parse_bytes(o.memory, "--memory") if o.memory else 0,
        memory_swap=(-1 if o.memory_swap == "-1" else parse_bytes(o.memory_swap, "--memory-swap"))
        if o.memory_swap
        else 0,
        memory_reservation=parse_bytes(o.memory_reservation, "--memory-reservation")
        if o.memory_reservation
        else 0,
        memory_swappiness=o.memory_swappiness,
        nano_cpus=_nano_cpus(o.cpus) if o.cpus else 0,
        cpu_shares=o.cpu_shares,
        cpu_period=o.cpu_period,
        cpu_quota=o.cpu_quota,
        cpuset_cpus=o.cpuset_cpus,
        cpuset_mems=o.cpuset_mems,
        pids_limit=o.pids_limit,
        blkio_weight=o.blkio_weight,
        oom_kill_disable=o.oom_kill_disable,
        oom_score_adj=o.oom_score_adj,
        shm_size=parse_bytes(o.shm_size, "--shm-size") if o.shm_size else 0,
        ulimits=[parse_ulimit(u) for u in o.ulimit],
    )
    if resources.memory and resources.memory < 6 << 20:
        raise InvalidArgument("invalid --memory: the minimum is 6MB")
    if resources.memory_swap > 0 and resources.memory_swap < resources.memory:
        raise InvalidArgument("invalid --memory-swap: it must be at least --memory")
    if resources.oom_score_adj is not None and not -1000 <= resources.oom_score_adj <= 1000:
        raise InvalidArgument("invalid --oom-score-adj: it must be in -1000..1000")
    if o.blkio_weight and not 10 <= o.blkio_weight <= 1000:
        raise InvalidArgument("invalid --blkio-weight: it must be in 10..1000")
    security = Security(
        privileged=o.privileged,
        cap_add=list(o.cap_add),
        cap_drop=list(o.cap_drop),
        security_opt=[_absolute_profile(opt) for opt in o.security_opt],
        read_only=o.read_only,
        devices=[parse_device(d) for d in o.device],
        group_add=list(o.group_add),
        sysctls=_key_values(o.sysctl, "--sysctl"),
    )
    mounts = [parse_volume(v) for v in o.volume]
    mounts += [parse_mount(m) for m in o.mount]
    mounts += [parse_tmpfs(t) for t in o.tmpfs]
    network = Networking(
        aliases=list(o.network_alias),
        ip=o.ip,
        mac_address=o.mac_address,
        ports=[port for text in o.publish for port in parse_publish(text)],
        publish_all=o.publish_all,
        expose=list(o.expose),
        dns=list(o.dns),
        dns_search=list(o.dns_search),
        dns_options=list(o.dns_option),
        extra_hosts=list(o.add_host),
    )
    parse_network(",".join(o.network), network)
    from capsa.engine.etcfiles import parse_extra_host

    for entry in network.extra_hosts:
        parse_extra_host(entry)
    log_options = _key_values(o.log_opt, "--log-opt")
    for key in log_options:
        if key not in ("max-size", "max-file", "compress", "labels", "env", "tag", "mode"):
            raise InvalidArgument(f"unknown --log-opt {key!r}", hint="max-size or max-file")
    if "max-size" in log_options:
        parse_bytes(log_options["max-size"], "--log-opt max-size")
    if "max-file" in log_options and not log_options["max-file"].isdigit():
        raise InvalidArgument("invalid --log-opt max-file: it must be a number")
    if o.platform:
        from capsa.oci.platform import host_platform, parse_platform

        wanted = parse_platform(o.platform).normalize()
        host = host_platform().normalize()
        if (wanted.os, wanted.architecture) != (host.os, host.architecture):
            raise InvalidArgument(
                f"--platform {o.platform} cannot run on this {host.os}/{host.architecture} host"
            )
    if o.pull not in ("missing", "never", "always", "newer"):
        raise InvalidArgument(f"invalid --pull {o.pull!r}", hint="missing, never or always")
    return ContainerSpec(
        image=o.image,
        name=o.name,
        command=list(o.command) if o.command else None,
        entrypoint=entrypoint,
        env=_client_env(_read_env_files(o.env_file, "--env-file") + list(o.env)),
        workdir=o.workdir,
        user=o.user,
        labels=labels,
        annotations=_key_values(o.annotation, "--annotation"),
        hostname=o.hostname,
        domainname=o.domainname,
        init=o.init,
        tty=o.tty,
        stdin_open=o.interactive,
        restart=parse_restart(o.restart),
        stop_signal=_checked_signal(o.stop_signal),
        stop_timeout=o.stop_timeout,
        healthcheck=health,
        no_healthcheck=o.no_healthcheck,
        runtime=o.runtime,
        auto_remove=o.rm,
        resources=resources,
        security=security,
        mounts=mounts,
        volumes_from=list(o.volumes_from),
        network=network,
        pid_mode=_namespace_mode(o.pid, "--pid", ("host",)),
        ipc_mode=_namespace_mode(o.ipc, "--ipc", ("host", "private", "shareable", "none")),
        uts_mode=_namespace_mode(o.uts, "--uts", ("host",)),
        cgroupns_mode=_namespace_mode(o.cgroupns, "--cgroupns", ("host", "private")),
        cgroup_parent=o.cgroup_parent,
        log_driver=o.log_driver,
        log_options=log_options,
        detach_keys=o.detach_keys,
    )


def _client_env(entries: list[str]) -> list[str]:
    """`-e NAME` takes NAME's value from this command's environment (as Docker's client
    does; the container is set up elsewhere), and is left out when NAME is not set."""
    result = []
    for entry in entries:
        if "=" in entry:
            result.append(entry)
        elif entry in os.environ:
            result.append(f"{entry}={os.environ[entry]}")
    return result


def _absolute_profile(opt: str) -> str:
    """`seccomp=profile.json` relative to this command's directory."""
    key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
    if key != "seccomp" or not sep or value in ("unconfined", "builtin", ""):
        return opt
    if value.lstrip().startswith("{"):
        return opt
    return f"seccomp={os.path.abspath(value)}"


def _nano_cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid --cpus {text!r}: not a number") from None
    if value <= 0 or value > (os.cpu_count() or 1):
        raise InvalidArgument(
            f"invalid --cpus {text!r}: it must be above 0 and at most {os.cpu_count()}",
            hint="the number of CPUs this host has",
        )
    return int(value * 1e9)


def _checked_signal(text: str) -> str:
    if text:
        from capsa.runtime.kill import parse_signal

        parse_signal(text)
    return text
