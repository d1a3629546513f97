"""Containers as Docker shows them: `docker inspect`'s document and `docker ps`'s row
(also the shapes of the Engine API's /containers/{id}/json and /containers/json)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from capsa.engine import health as healthchecks
from capsa.engine.ociconfig import DEFAULT_PATH, hostname_of, stop_signal
from capsa.engine.state import (
    CREATED,
    DEAD,
    EXITED,
    PAUSED,
    REMOVING,
    RESTARTING,
    RUNNING,
)
from capsa.humanize import human_duration as duration
from capsa.times import parse_rfc3339_ns, rfc3339_nano

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.layout import Layout

ZERO_TIME = "0001-01-01T00:00:00Z"


def effective_command(record: ContainerRecord) -> tuple[list[str], list[str]]:
    """(entrypoint, cmd) as the container runs them (Docker's merge)."""
    spec, image = record.spec, record.image_config
    if spec.entrypoint is not None:
        return list(spec.entrypoint), list(spec.command or [])
    entrypoint = list(image.get("Entrypoint") or [])
    cmd = list(spec.command) if spec.command is not None else list(image.get("Cmd") or [])
    return entrypoint, cmd


def effective_env(record: ContainerRecord) -> list[str]:
    merged: dict[str, str] = {}
    for entry in [*(record.image_config.get("Env") or [DEFAULT_PATH]), *record.spec.env]:
        key, _, value = entry.partition("=")
        merged[key] = value
    return [f"{key}={value}" for key, value in merged.items()]


def inspect_container(record: ContainerRecord, layout: Layout, driver: str) -> dict[str, Any]:
    spec, state = record.spec, record.state
    entrypoint, cmd = effective_command(record)
    args = entrypoint + cmd
    health = None
    if state.health is not None:
        health = {
            "Status": state.health.status,
            "FailingStreak": state.health.failing_streak,
            "Log": [
                {"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output}
                for r in state.health.log
            ],
        }
    container_dir = layout.container_dir(record.id)
    check = healthchecks.effective_healthcheck(spec, record.image_config)
    state_doc: dict[str, Any] = {
        "Status": state.status,
        "Running": state.status in (RUNNING, PAUSED),
        "Paused": state.status == PAUSED,
        "Restarting": state.status == RESTARTING,
        "OOMKilled": state.oom_killed,
        "Dead": state.status == DEAD,
        "Pid": state.pid if state.status in (RUNNING, PAUSED) else 0,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": state.started_at or ZERO_TIME,
        "FinishedAt": state.finished_at or ZERO_TIME,
    }
    if health is not None:
        state_doc["Health"] = health
    mounts = []
    for mount in spec.mounts:
        source = mount.source
        if mount.type == "volume":
            source = os.path.join(layout.volume_dir(mount.source), "_data")
        entry: dict[str, Any] = {
            "Type": mount.type,
            "Source": source if mount.type != "tmpfs" else "",
            "Destination": mount.target,
            "Mode": mount.selinux,
            "RW": not mount.readonly,
            "Propagation": (mount.propagation or "rprivate") if mount.type == "bind" else "",
        }
        if mount.type == "volume":
            entry["Name"] = mount.source
            entry["Driver"] = mount.volume_driver or "local"
        mounts.append(entry)
    r = spec.resources
    host_config = {
        "Binds": [
            f"{m.source}:{m.target}{':ro' if m.readonly else ''}"
            for m in spec.mounts
            if m.type == "bind"
        ]
        or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": spec.log_driver, "Config": dict(spec.log_options)},
        "NetworkMode": _network_mode(record),
        "PortBindings": _port_bindings(record),
        "RestartPolicy": {
            "Name": spec.restart.name,
            "MaximumRetryCount": spec.restart.max_retries,
        },
        "AutoRemove": spec.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": spec.volumes_from or None,
        "CapAdd": spec.security.cap_add or None,
        "CapDrop": spec.security.cap_drop or None,
        "CgroupnsMode": spec.cgroupns_mode or "host",
        "Dns": spec.network.dns,
        "DnsOptions": spec.network.dns_options,
        "DnsSearch": spec.network.dns_search,
        "ExtraHosts": spec.network.extra_hosts or None,
        "GroupAdd": spec.security.group_add or None,
        "IpcMode": spec.ipc_mode or "private",
        "PidMode": spec.pid_mode,
        "Privileged": spec.security.privileged,
        "PublishAllPorts": spec.network.publish_all,
        "ReadonlyRootfs": spec.security.read_only,
        "SecurityOpt": spec.security.security_opt or None,
        "UTSMode": spec.uts_mode,
        "ShmSize": r.shm_size or 64 << 20,
        "Runtime": spec.runtime,
        "CgroupParent": spec.cgroup_parent,
        "BlkioWeight": r.blkio_weight,
        "CpuShares": r.cpu_shares,
        "Memory": r.memory,
        "NanoCpus": r.nano_cpus,
        "CpuPeriod": r.cpu_period,
        "CpuQuota": r.cpu_quota,
        "CpusetCpus": r.cpuset_cpus,
        "CpusetMems": r.cpuset_mems,
        "Devices": [
            {
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": d.permissions,
            }
            for d in spec.security.devices
        ],
        "MemoryReservation": r.memory_reservation,
        "MemorySwap": r.memory_swap if r.memory_swap else (2 * r.memory if r.memory else 0),
        "MemorySwappiness": r.memory_swappiness if r.memory_swappiness >= 0 else None,
        "OomKillDisable": r.oom_kill_disable,
        "OomScoreAdj": r.oom_score_adj or 0,
        "PidsLimit": r.pids_limit or None,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in r.ulimits] or None,
        "Init": spec.init,
        "Sysctls": dict(spec.security.sysctls) or None,
        "Tmpfs": {m.target: "" for m in spec.mounts if m.type == "tmpfs"} or None,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }
    healthcheck = None
    if check is not None:
        healthcheck = {
            "Test": check.test,
            "Interval": int(check.interval * 1e9),
            "Timeout": int(check.timeout * 1e9),
            "StartPeriod": int(check.start_period * 1e9),
            "StartInterval": int(check.start_interval * 1e9),
            "Retries": check.retries,
        }
    image = record.image_config
    labels = {**(image.get("Labels") or {}), **spec.labels}
    config: dict[str, Any] = {
        "Hostname": hostname_of(spec, record.id),
        "Domainname": spec.domainname,
        "User": spec.user or image.get("User") or "",
        "AttachStdin": spec.stdin_open,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": _exposed(record) or None,
        "Tty": spec.tty,
        "OpenStdin": spec.stdin_open,
        "StdinOnce": False,
        "Env": effective_env(record),
        "Cmd": cmd or None,
        "Image": spec.image,
        "Volumes": {m.target: {} for m in spec.mounts if m.type == "volume"} or None,
        "WorkingDir": spec.workdir or image.get("WorkingDir") or "",
        "Entrypoint": entrypoint or None,
        "OnBuild": None,
        "Labels": labels,
        "StopSignal": stop_signal(spec, image),
    }
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    if spec.stop_timeout is not None:
        config["StopTimeout"] = spec.stop_timeout
    return {
        "Id": record.id,
        "Created": rfc3339_nano(record.created_ns),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": state_doc,
        "Image": record.image_id,
        "ResolvConfPath": os.path.join(container_dir, "resolv.conf"),
        "HostnamePath": os.path.join(container_dir, "hostname"),
        "HostsPath": os.path.join(container_dir, "hosts"),
        "LogPath": layout.log_path(record.id) if spec.log_driver != "none" else "",
        "Name": f"/{record.name}",
        "RestartCount": state.restart_count,
        "Driver": driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config,
        "GraphDriver": {"Name": driver, "Data": None},
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": _network_settings(record),
    }


def _network_mode(record: ContainerRecord) -> str:
    network = record.spec.network
    if network.mode == "container":
        return f"container:{network.peer}"
    if network.mode == "bridge":
        return network.networks[0] if network.networks else "bridge"
    return network.mode


def _exposed(record: ContainerRecord) -> dict[str, dict[str, Any]]:
    ports: dict[str, dict[str, Any]] = {}
    for port in record.image_config.get("ExposedPorts") or {}:
        ports[port] = {}
    for text in record.spec.network.expose:
        port = text if "/" in text else f"{text}/tcp"
        ports[port] = {}
    for spec in record.spec.network.ports:
        ports[f"{spec.container_port}/{spec.protocol}"] = {}
    return ports


def _port_bindings(record: ContainerRecord) -> dict[str, list[dict[str, str]]]:
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in record.spec.network.ports:
        bindings.setdefault(f"{port.container_port}/{port.protocol}", []).append(
            {"HostIp": port.host_ip, "HostPort": str(port.host_port) if port.host_port else ""}
        )
    return bindings


def _network_settings(record: ContainerRecord) -> dict[str, Any]:
    status = record.state.network_status or {}
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": record.state.netns,
        "Ports": status.get("Ports", {}),
        "Gateway": status.get("Gateway", ""),
        "IPAddress": status.get("IPAddress", ""),
        "IPPrefixLen": status.get("IPPrefixLen", 0),
        "MacAddress": status.get("MacAddress", ""),
        "Networks": status.get("Networks", {}),
    }


# -- ps ----------------------------------------------------------------------------------


def status_text(record: ContainerRecord, now: float | None = None) -> str:
    """Docker's STATUS column: `Up 3 minutes (healthy)`, `Exited (0) 2 seconds ago`."""
    state = record.state
    now = time.time() if now is None else now
    if state.status in (RUNNING, PAUSED):
        started = parse_rfc3339_ns(state.started_at) / 1e9 if state.started_at else now
        text = f"Up {duration(max(0.0, now - started))}"
        if state.status == PAUSED:
            return f"{text} (Paused)"
        if state.health is not None:
            health = state.health.status
            text += " (health: starting)" if health == "starting" else f" ({health})"
        return text
    if state.status == RESTARTING:
        finished = parse_rfc3339_ns(state.finished_at) / 1e9 if state.finished_at else now
        return f"Restarting ({state.exit_code}) {duration(max(0.0, now - finished))} ago"
    if state.status == EXITED:
        finished = parse_rfc3339_ns(state.finished_at) / 1e9 if state.finished_at else now
        return f"Exited ({state.exit_code}) {duration(max(0.0, now - finished))} ago"
    if state.status == REMOVING:
        return "Removal In Progress"
    if state.status == DEAD:
        return "Dead"
    return "Created" if state.status == CREATED else state.status


def ps_row(record: ContainerRecord, now: float | None = None) -> dict[str, Any]:
    """The fields `docker ps --format` knows, with Docker's names."""
    entrypoint, cmd = effective_command(record)
    command = " ".join(entrypoint + cmd)
    now = time.time() if now is None else now
    created = record.created_ns / 1e9
    labels = {**(record.image_config.get("Labels") or {}), **record.spec.labels}
    ports = ", ".join(_port_text(record))
    mounts = ",".join(m.source if m.type == "volume" else m.target for m in record.spec.mounts)
    return {
        "ID": record.id,
        "Image": record.image_name,
        "Command": command,
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": f"{duration(max(0.0, now - created))} ago",
        "Ports": ports,
        "State": record.state.status,
        "Status": status_text(record, now),
        "Size": "",
        "Names": record.name,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": mounts,
        "Networks": _network_mode(record),
        "LocalVolumes": str(sum(1 for m in record.spec.mounts if m.type == "volume")),
    }


def _port_text(record: ContainerRecord) -> list[str]:
    published = (record.state.network_status or {}).get("Ports") or {}
    texts = []
    for port, bindings in published.items():
        for binding in bindings or []:
            texts.append(f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}->{port}")
    return texts
