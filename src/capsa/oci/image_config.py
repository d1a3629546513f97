"""The image configuration blob (OCI image config, Docker `container.image.v1`).

It names the platform, the layers' DiffIDs (digests of the uncompressed tars) and the
defaults a container starts with. As the spec says, an optional field set to null means
the same as absent; nulls and empty lists and maps are not written back. The Docker
extensions capsa uses (Healthcheck, Shell, OnBuild) are read; every other field, Docker's
`container_config` and `docker_version` included, is kept as it was.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from capsa.errors import field_error
from capsa.oci import _fields as check
from capsa.oci.digest import Digest
from capsa.oci.platform import Platform

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

UINT16_MAX = 65535
# `port`, `port/proto` or a range `first-last/proto`, as EXPOSE writes them.
_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?")
# SIGTERM, TERM, SIGRTMIN+3 or a number, as Docker's signal parser takes them.
_SIGNAL = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[+-]\d+)?|\d+")
HEALTHCHECK_KINDS = ("NONE", "CMD", "CMD-SHELL")
_HEALTH_DURATIONS = (
    ("Interval", "interval"),
    ("Timeout", "timeout"),
    ("StartPeriod", "start_period"),
    ("StartInterval", "start_interval"),
)


def _present(document: Mapping[str, Any], key: str) -> bool:
    return check.optional(document, key, null_is_absent=True)


@dataclass(frozen=True)
class Healthcheck:
    """Docker's HEALTHCHECK: `test` is [] (inherit), ["NONE"], ["CMD", argv...] or
    ["CMD-SHELL", command]. Durations are in nanoseconds, 0 meaning the default."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, where: str) -> Healthcheck:
        document = check.obj(value, where)
        test: tuple[str, ...] = ()
        if _present(document, "Test"):
            test = check.strings(document["Test"], f"{where}.Test")
            _check_test(test, f"{where}.Test")
        durations = {
            attribute: check.integer(document[key], f"{where}.{key}", 0, check.INT64_MAX)
            for key, attribute in _HEALTH_DURATIONS
            if _present(document, key)
        }
        retries = 0
        if _present(document, "Retries"):
            retries = check.integer(document["Retries"], f"{where}.Retries", 0, check.INT64_MAX)
        known = ["Test", "Retries", *(key for key, _ in _HEALTH_DURATIONS)]
        return cls(test, retries=retries, extra=check.extras(document, known), **durations)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.test:
            document["Test"] = list(self.test)
        for key, attribute in _HEALTH_DURATIONS:
            if getattr(self, attribute):
                document[key] = getattr(self, attribute)
        if self.retries:
            document["Retries"] = self.retries
        document.update(self.extra)
        return document


def _check_test(test: tuple[str, ...], where: str) -> None:
    if not test:
        return
    if test[0] not in HEALTHCHECK_KINDS:
        raise field_error(
            f"{where}[0]",
            f"unknown health check kind {test[0]!r}",
            hint="use NONE, CMD or CMD-SHELL",
        )
    if test[0] == "NONE" and len(test) != 1:
        raise field_error(where, "NONE takes no arguments")
    if test[0] == "CMD" and len(test) < 2:
        raise field_error(where, "CMD needs the program to run")
    if test[0] == "CMD-SHELL" and len(test) != 2:
        raise field_error(where, "CMD-SHELL takes exactly one shell command")


_CONTAINER_KEYS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
    "Healthcheck",
    "OnBuild",
    "Shell",
)


@dataclass(frozen=True)
class ContainerConfig:
    """The image config's `config` object: the defaults a container of the image gets.

    `entrypoint` and `cmd` are None when unset and () when set to empty: Docker treats
    the two differently (an empty ENTRYPOINT clears the base image's).
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    args_escaped: bool = False
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, where: str) -> ContainerConfig:
        document = check.obj(value, where)

        def get(key: str, parse: Callable[[object, str], Any], default: Any) -> Any:
            return parse(document[key], f"{where}.{key}") if _present(document, key) else default

        return cls(
            user=get("User", check.string, ""),
            exposed_ports=get("ExposedPorts", _ports, ()),
            env=get("Env", _env, ()),
            entrypoint=get("Entrypoint", check.strings, None),
            cmd=get("Cmd", check.strings, None),
            volumes=get("Volumes", check.object_keys, ()),
            working_dir=get("WorkingDir", check.string, ""),
            labels=get("Labels", check.string_map, {}),
            stop_signal=get("StopSignal", _signal, ""),
            args_escaped=get("ArgsEscaped", check.boolean, False),
            healthcheck=get("Healthcheck", Healthcheck.from_json, None),
            on_build=get("OnBuild", check.strings, ()),
            shell=get("Shell", check.strings, ()),
            extra=check.extras(document, _CONTAINER_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.user:
            document["User"] = self.user
        if self.exposed_ports:
            document["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.env:
            document["Env"] = list(self.env)
        if self.entrypoint is not None:
            document["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            document["Cmd"] = list(self.cmd)
        if self.volumes:
            document["Volumes"] = {volume: {} for volume in self.volumes}
        if self.working_dir:
            document["WorkingDir"] = self.working_dir
        if self.labels:
            document["Labels"] = dict(self.labels)
        if self.stop_signal:
            document["StopSignal"] = self.stop_signal
        if self.args_escaped:
            document["ArgsEscaped"] = True
        if self.healthcheck is not None:
            document["Healthcheck"] = self.healthcheck.to_json()
        if self.on_build:
            document["OnBuild"] = list(self.on_build)
        if self.shell:
            document["Shell"] = list(self.shell)
        document.update(self.extra)
        return document


def _ports(value: object, where: str) -> tuple[str, ...]:
    ports = check.object_keys(value, where)
    for port in ports:
        match = _PORT.fullmatch(port)
        numbers = [int(n) for n in match.groups()[:2] if n] if match else []
        if not match or any(n > UINT16_MAX for n in numbers) or numbers != sorted(numbers):
            raise field_error(
                f"{where}.{port}",
                f"{port!r} is not a port",
                hint="write port, port/tcp, port/udp or port/sctp (port 0-65535)",
            )
    return ports


def _env(value: object, where: str) -> tuple[str, ...]:
    env = check.strings(value, where)
    for i, item in enumerate(env):
        name, equals, _ = item.partition("=")
        if not equals or not name:
            raise field_error(f"{where}[{i}]", f"{item!r} is not of the form NAME=value")
    return env


def _signal(value: object, where: str) -> str:
    signal = check.string(value, where)
    if not _SIGNAL.fullmatch(signal):
        raise field_error(
            where, f"{signal!r} is not a signal", hint="write a name like SIGTERM or a number"
        )
    return signal


@dataclass(frozen=True)
class RootFS:
    """The layers' DiffIDs, base first: digests of the uncompressed tar streams."""

    diff_ids: tuple[Digest, ...] = ()
    type: str = "layers"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, where: str) -> RootFS:
        document = check.obj(value, where)
        for key in ("type", "diff_ids"):
            if key not in document:
                raise field_error(f"{where}.{key}", "is missing")
        kind = check.string(document["type"], f"{where}.type")
        if kind != "layers":
            raise field_error(f"{where}.type", f"must be 'layers', not {kind!r}")
        items = check.array(document["diff_ids"], f"{where}.diff_ids")
        return cls(
            tuple(check.digest(item, f"{where}.diff_ids[{i}]") for i, item in enumerate(items)),
            extra=check.extras(document, ("type", "diff_ids")),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": self.type,
            "diff_ids": [str(diff_id) for diff_id in self.diff_ids],
        }
        document.update(self.extra)
        return document


@dataclass(frozen=True)
class History:
    """How one step of the build made the image; empty_layer steps made no layer."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, where: str) -> History:
        document = check.obj(value, where)
        text = {
            key: check.string(document[key], f"{where}.{key}")
            for key in ("created_by", "author", "comment")
            if _present(document, key)
        }
        created = ""
        if _present(document, "created"):
            created = check.date_time(document["created"], f"{where}.created")
        empty = False
        if _present(document, "empty_layer"):
            empty = check.boolean(document["empty_layer"], f"{where}.empty_layer")
        return cls(
            created=created,
            empty_layer=empty,
            extra=check.extras(
                document, ("created", "created_by", "author", "comment", "empty_layer")
            ),
            **text,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key in ("created", "created_by", "author", "comment"):
            if getattr(self, key):
                document[key] = getattr(self, key)
        if self.empty_layer:
            document["empty_layer"] = True
        document.update(self.extra)
        return document


_IMAGE_KEYS = (
    "created",
    "author",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "config",
    "rootfs",
    "history",
)


@dataclass(frozen=True)
class ImageConfig:
    """An image configuration document. Its digest is the image ID."""

    architecture: str
    os: str
    _: KW_ONLY
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    created: str = ""
    author: str = ""
    config: ContainerConfig | None = None
    rootfs: RootFS = field(default_factory=RootFS)
    history: tuple[History, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: object, where: str = "config") -> ImageConfig:
        document = check.obj(value, where)
        for key in ("architecture", "os", "rootfs"):
            if key not in document:
                raise field_error(f"{where}.{key}", "is missing")

        def text(key: str) -> str:
            return check.string(document[key], f"{where}.{key}") if _present(document, key) else ""

        history: tuple[History, ...] = ()
        if _present(document, "history"):
            entries = check.array(document["history"], f"{where}.history")
            history = tuple(
                History.from_json(entry, f"{where}.history[{i}]") for i, entry in enumerate(entries)
            )
        return cls(
            check.nonempty(document["architecture"], f"{where}.architecture"),
            check.nonempty(document["os"], f"{where}.os"),
            variant=text("variant"),
            os_version=text("os.version"),
            os_features=(
                check.strings(document["os.features"], f"{where}.os.features")
                if _present(document, "os.features")
                else ()
            ),
            created=(
                check.date_time(document["created"], f"{where}.created")
                if _present(document, "created")
                else ""
            ),
            author=text("author"),
            config=(
                ContainerConfig.from_json(document["config"], f"{where}.config")
                if _present(document, "config")
                else None
            ),
            rootfs=RootFS.from_json(document["rootfs"], f"{where}.rootfs"),
            history=history,
            extra=check.extras(document, _IMAGE_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.created:
            document["created"] = self.created
        if self.author:
            document["author"] = self.author
        document["architecture"] = self.architecture
        document["os"] = self.os
        if self.os_version:
            document["os.version"] = self.os_version
        if self.os_features:
            document["os.features"] = list(self.os_features)
        if self.variant:
            document["variant"] = self.variant
        if self.config is not None:
            document["config"] = self.config.to_json()
        document["rootfs"] = self.rootfs.to_json()
        if self.history:
            document["history"] = [entry.to_json() for entry in self.history]
        document.update(self.extra)
        return document

    @property
    def platform(self) -> Platform:
        """The platform the image was built for, as written (normalize() to compare)."""
        return Platform(self.os, self.architecture, self.variant, self.os_version, self.os_features)

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        return self.rootfs.diff_ids

    def chain_ids(self) -> list[Digest]:
        """ChainID of each layer stack, base first: ChainID(L0) = DiffID(L0),
        ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))."""
        chain: list[Digest] = []
        for diff_id in self.rootfs.diff_ids:
            if chain:
                chain.append(Digest.of(f"{chain[-1]} {diff_id}".encode()))
            else:
                chain.append(diff_id)
        return chain
