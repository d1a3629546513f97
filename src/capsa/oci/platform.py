"""Platforms (`linux/arm64/v8`): parsing, the host's own, matching, and picking the best
manifest of an index for a platform.

Names follow Go's GOOS/GOARCH as the image-spec asks, normalised the way containerd's
`platforms` package does (x86_64 -> amd64, aarch64 -> arm64), with the CPU variant made
explicit where an architecture has an implied one: arm64 means arm64/v8, arm means arm/v7.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capsa.errors import InvalidArgument, NotFound, field_error
from capsa.oci import _fields as check
from capsa.oci import media_types

if TYPE_CHECKING:
    from collections.abc import Mapping

    from capsa.oci.descriptor import Descriptor
    from capsa.oci.manifest import Index

KNOWN_OS = frozenset(
    {
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "illumos",
        "ios",
        "js",
        "linux",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
    }
)
KNOWN_ARCHITECTURES = frozenset(
    {
        "386",
        "amd64",
        "arm",
        "arm64",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "ppc64",
        "ppc64le",
        "riscv64",
        "s390x",
        "wasm",
    }
)
# `uname -m` and distribution spellings -> (GOARCH, variant)
_ARCH_ALIASES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "i386": ("386", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "aarch64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "mipsel": ("mipsle", ""),
    "mips64el": ("mips64le", ""),
    "loongarch64": ("loong64", ""),
}
_ARM_MACHINE = re.compile(r"armv(\d+)\w*")  # armv7l, armv6l, armv5tel, armv8l
# The variant an architecture implies when none is given.
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
# Architectures whose variants are ordered CPU levels: a CPU of level N runs images built
# for any level up to N (arm/v7 runs arm/v6, amd64/v3 runs amd64/v2, arm64/v9 runs v8).
_LEVELLED = {"arm": re.compile(r"v(\d+)"), "arm64": re.compile(r"v(\d+)(?:\.(\d+))?")}
_LEVELLED["amd64"] = re.compile(r"v(\d+)")
_LEVELLED["ppc64le"] = re.compile(r"power(\d+)")
_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")
_PLATFORM_HINT = "write it as os/arch[/variant], for example linux/amd64 or linux/arm64/v8"


@dataclass(frozen=True)
class Platform:
    """What an image needs from the machine. Compare normalised platforms (normalize())."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    # Fields this capsa does not know (the reserved `features`), kept for re-serialising.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, value: object, where: str = "platform") -> Platform:
        document = check.obj(value, where)
        for key in ("architecture", "os"):
            if key not in document:
                raise field_error(f"{where}.{key}", "is missing")
        platform = cls(
            os=check.nonempty(document["os"], f"{where}.os"),
            architecture=check.nonempty(document["architecture"], f"{where}.architecture"),
            variant=check.string(document.get("variant", ""), f"{where}.variant"),
            os_version=check.string(document.get("os.version", ""), f"{where}.os.version"),
            os_features=check.strings(document.get("os.features", []), f"{where}.os.features"),
            extra=check.extras(
                document, ("architecture", "os", "os.version", "os.features", "variant")
            ),
        )
        if "features" in document:
            check.strings(document["features"], f"{where}.features")
        return platform

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            document["os.version"] = self.os_version
        if self.os_features:
            document["os.features"] = list(self.os_features)
        if self.variant:
            document["variant"] = self.variant
        document.update(self.extra)
        return document

    def normalize(self) -> Platform:
        """The canonical spelling: lowercase, Go names, implied variants made explicit."""
        system = self.os.lower()
        if system == "macos":
            system = "darwin"
        architecture, variant = _normalize_arch(self.architecture, self.variant)
        return Platform(
            os=system,
            architecture=architecture,
            variant=variant,
            os_version=self.os_version,
            os_features=self.os_features,
            extra=self.extra,
        )

    def __str__(self) -> str:
        text = self.os
        if self.os_version:
            text += f"({self.os_version})"
        text += f"/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        return text


def _normalize_arch(architecture: str, variant: str) -> tuple[str, str]:
    architecture, variant = architecture.lower(), variant.lower()
    if architecture in _ARCH_ALIASES:
        alias, implied = _ARCH_ALIASES[architecture]
        architecture, variant = alias, variant or implied
    if architecture == "386":
        variant = ""
    elif architecture == "amd64":
        if variant == "v1":
            variant = ""  # the baseline; Docker writes none
    elif architecture == "arm64":
        variant = {"8": "v8", "v8.0": "v8", "9": "v9", "9.0": "v9", "v9.0": "v9"}.get(
            variant, variant
        )
    elif architecture == "arm" and variant in ("5", "6", "7", "8"):
        variant = "v" + variant
    return architecture, variant or _DEFAULT_VARIANT.get(architecture, "")


def host_platform(machine: str | None = None, system: str | None = None) -> Platform:
    """The platform of this machine (from uname unless given), normalised."""
    if machine is None or system is None:
        uname = os.uname()
        machine = uname.machine if machine is None else machine
        system = uname.sysname if system is None else system
    machine = machine.lower()
    arm = _ARM_MACHINE.fullmatch(machine)
    if arm is not None:
        return Platform(system, "arm", f"v{arm.group(1)}").normalize()
    return Platform(system, machine).normalize()


def parse_platform(text: str, host: Platform | None = None) -> Platform:
    """Parse `os[(os.version)][/arch[/variant]]`, as `--platform` takes it, normalised.

    A lone OS (`linux`) takes the host's architecture; a lone architecture (`arm64`) the
    host's OS, as containerd does.
    """
    spec = text.strip()
    os_version = ""
    head, slash, tail = spec.partition("/")
    if head.endswith(")") and "(" in head:
        head, _, os_version = head[:-1].partition("(")
        spec = head + slash + tail
    parts = spec.split("/")
    if not spec or len(parts) > 3 or not all(_COMPONENT.fullmatch(part) for part in parts):
        raise InvalidArgument(f"invalid platform {text!r}", hint=_PLATFORM_HINT)
    if len(parts) == 1:
        host = host or host_platform()
        word = parts[0].lower()
        if word in KNOWN_OS or word == "macos":
            parts = [word, host.architecture] + ([host.variant] if host.variant else [])
        elif _normalize_arch(word, "")[0] in KNOWN_ARCHITECTURES:
            parts = [host.os, word]
        else:
            raise InvalidArgument(
                f"invalid platform {text!r}: {word!r} is not a known OS or architecture",
                hint=_PLATFORM_HINT,
            )
    variant = parts[2] if len(parts) == 3 else ""
    return Platform(parts[0], parts[1], variant, os_version).normalize()


def _level(platform: Platform) -> tuple[int, ...] | None:
    pattern = _LEVELLED.get(platform.architecture)
    if pattern is None:
        return None
    if not platform.variant:
        return (1,) if platform.architecture == "amd64" else None
    match = pattern.fullmatch(platform.variant)
    if match is None:
        return None
    return tuple(int(group or 0) for group in match.groups())


def _same_os(wanted: Platform, candidate: Platform) -> bool:
    if wanted.os != candidate.os or wanted.architecture != candidate.architecture:
        return False
    if wanted.os == "windows" and wanted.os_version and candidate.os_version:
        # Windows containers need the same build (major.minor.build) as the host.
        return wanted.os_version.split(".")[:3] == candidate.os_version.split(".")[:3]
    return True


def _rank(wanted: Platform, candidate: Platform) -> tuple[int, tuple[int, ...]] | None:
    """How well `candidate` fits `wanted` (lower is better), or None if it cannot run."""
    wanted, candidate = wanted.normalize(), candidate.normalize()
    if not _same_os(wanted, candidate):
        return None
    if wanted.variant == candidate.variant:
        return 0, ()
    wanted_level, candidate_level = _level(wanted), _level(candidate)
    if wanted_level is not None and candidate_level is not None:
        if candidate_level <= wanted_level:
            # The closest older level first: negate so that sorting prefers the highest.
            return 1, tuple(-part for part in candidate_level)
        return None
    if not candidate.variant:
        return 1, ()  # an image that asks for no particular variant runs on any
    return None


def matches(wanted: Platform, candidate: Platform) -> bool:
    """True if an image built for `candidate` runs on `wanted`: same OS and architecture,
    and the same CPU variant or an older level of it (arm/v7 runs arm/v6)."""
    return _rank(wanted, candidate) is not None


def choose(index: Index, wanted: Platform) -> Descriptor:
    """The entry of `index` to use on `wanted`: an exact variant first, then the closest
    compatible one, then (as containerd does) an image manifest that names no platform.
    Among equals, the first listed wins, as the image-spec asks. The result may be a
    nested index: resolve it again."""
    best: tuple[tuple[int, tuple[int, ...]], int] | None = None
    chosen: Descriptor | None = None
    for position, descriptor in enumerate(index.manifests):
        if descriptor.platform is None:
            if not (
                media_types.is_manifest(descriptor.media_type)
                or media_types.is_index(descriptor.media_type)
            ):
                continue
            rank: tuple[int, tuple[int, ...]] | None = (2, ())
        else:
            rank = _rank(wanted, descriptor.platform)
        if rank is not None and (best is None or (rank, position) < best):
            best, chosen = (rank, position), descriptor
    if chosen is None:
        raise NotFound(f"no image for {wanted} in the image index", hint=_available(index))
    return chosen


def _available(index: Index) -> str:
    names: list[str] = []
    for descriptor in index.manifests:
        platform = descriptor.platform
        # BuildKit lists its attestations as unknown/unknown: not something to run.
        if platform is not None and platform.os != "unknown" and str(platform) not in names:
            names.append(str(platform))
    if not names:
        return "the index lists no platforms"
    return f"it has {', '.join(names)}; choose one of them with --platform"
