"""The instructions that only change the image's configuration (no layer): ENV, LABEL,
WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD,
MAINTAINER. Each takes the config (Docker's JSON shape, the image config's `config`)
and returns the new one, with Docker's rules; what it says for the history comes back
too."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from typing import Any

from capsa.build.dockerfile import Instruction, go_duration_seconds
from capsa.build.shellwords import expand, expand_words, key_values
from capsa.errors import InvalidArgument

Lookup = Callable[[str], str | None]
DEFAULT_SHELL = ["/bin/sh", "-c"]
CONFIG_ONLY = frozenset(
    {
        "ENV",
        "LABEL",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "VOLUME",
        "CMD",
        "ENTRYPOINT",
        "SHELL",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "ONBUILD",
        "MAINTAINER",
    }
)


class InstructionError(InvalidArgument):
    """An instruction that cannot be applied, naming the Dockerfile line."""


def fail(
    instruction: Instruction, filename: str, message: str, hint: str | None = None
) -> InstructionError:
    return InstructionError(
        f"{filename}:{instruction.line}: {instruction.keyword}: {message}", hint=hint
    )


def env_map(config: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in config.get("Env") or []:
        key, _, value = entry.partition("=")
        result[key] = value
    return result


def set_env(config: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    current = env_map(config)
    for key, value in pairs:
        current[key] = value
    config["Env"] = [f"{key}={value}" for key, value in current.items()]


def shell_of(config: dict[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def command_form(instruction: Instruction, config: dict[str, Any]) -> list[str]:
    """The argv of RUN/CMD/ENTRYPOINT: the JSON form as is, the shell form through SHELL."""
    if instruction.json is not None:
        return list(instruction.json)
    return [*shell_of(config), instruction.text]


def duration_ns(text: str, what: str) -> int:
    """A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds."""
    try:
        return int(go_duration_seconds(text) * 1e9)
    except ValueError:
        raise InvalidArgument(
            f"invalid {what} {text!r}: not a duration such as 30s or 1m30s"
        ) from None


def apply_config(
    instruction: Instruction,
    config: dict[str, Any],
    lookup: Lookup,
    *,
    filename: str,
    escape: str,
    cmd_inherited: bool,
) -> tuple[dict[str, Any], str]:
    """Apply a config-only instruction; returns the new config and its history text."""
    keyword = instruction.keyword
    config = copy.deepcopy(config)
    text = instruction.text

    def words() -> list[str]:
        return expand_words(text, lookup, escape=escape)

    if keyword == "ENV":
        pairs = key_values(text, lookup, escape=escape, keyword="ENV")
        if not pairs:
            raise fail(instruction, filename, "needs at least one NAME=VALUE")
        set_env(config, pairs)
        return config, "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if keyword == "LABEL":
        pairs = key_values(text, lookup, escape=escape, keyword="LABEL")
        if not pairs:
            raise fail(instruction, filename, "needs at least one NAME=VALUE")
        labels = dict(config.get("Labels") or {})
        labels.update(pairs)
        config["Labels"] = labels
        return config, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if keyword == "MAINTAINER":
        return config, f"MAINTAINER {expand(text, lookup, escape=escape)}"
    if keyword == "WORKDIR":
        path = expand(text, lookup, escape=escape)
        if not path:
            raise fail(instruction, filename, "needs a path")
        current = config.get("WorkingDir") or "/"
        config["WorkingDir"] = os.path.normpath(os.path.join(current, path))
        return config, f"WORKDIR {config['WorkingDir']}"
    if keyword == "USER":
        user = expand(text, lookup, escape=escape)
        if not user:
            raise fail(instruction, filename, "needs a user name or ID")
        config["User"] = user
        return config, f"USER {user}"
    if keyword == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for word in words():
            port, _, protocol = word.partition("/")
            protocol = (protocol or "tcp").lower()
            numbers = _port_range(port)
            if protocol not in ("tcp", "udp", "sctp") or numbers is None:
                raise fail(instruction, filename, f"invalid port {word!r}", "use PORT[/tcp|udp]")
            for number in numbers:  # a range is one port each, as Docker's nat package
                ports[f"{number}/{protocol}"] = {}
        config["ExposedPorts"] = ports
        return config, "EXPOSE " + " ".join(sorted(ports))
    if keyword == "VOLUME":
        items = (
            [expand(item, lookup, escape=escape) for item in instruction.json]
            if instruction.json is not None
            else words()
        )
        if not items or any(not item for item in items):
            raise fail(instruction, filename, "needs a path")
        volumes = dict(config.get("Volumes") or {})
        for item in items:
            volumes[item] = {}
        config["Volumes"] = volumes
        return config, "VOLUME " + json.dumps(items)
    if keyword in ("CMD", "ENTRYPOINT"):
        argv = command_form(instruction, config)
        if keyword == "CMD":
            config["Cmd"] = argv
        else:
            config["Entrypoint"] = argv
            if cmd_inherited:
                config["Cmd"] = None  # Docker: an ENTRYPOINT resets the base image's CMD
        return config, f"{keyword} {json.dumps(argv)}"
    if keyword == "SHELL":
        if instruction.json is None or not instruction.json:
            raise fail(instruction, filename, "needs the JSON form", 'SHELL ["/bin/sh", "-c"]')
        config["Shell"] = list(instruction.json)
        return config, f"SHELL {json.dumps(list(instruction.json))}"
    if keyword == "STOPSIGNAL":
        value = expand(text, lookup, escape=escape)
        if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", value.upper()):
            raise fail(instruction, filename, f"invalid signal {value!r}")
        config["StopSignal"] = value
        return config, f"STOPSIGNAL {value}"
    if keyword == "HEALTHCHECK":
        config["Healthcheck"] = _healthcheck(instruction, config, filename)
        return config, f"HEALTHCHECK {text}"
    if keyword == "ONBUILD":
        inner = instruction.onbuild
        if inner is None:
            raise fail(instruction, filename, "needs an instruction")
        config["OnBuild"] = [*(config.get("OnBuild") or []), inner.original.strip()]
        return config, f"ONBUILD {inner.original.strip()}"
    raise fail(instruction, filename, "is not a configuration instruction")


def _port_range(port: str) -> range | None:
    """The ports of `80` or `8000-8010`; None when it is neither."""
    low, dash, high = port.partition("-")
    try:
        first = int(low)
        last = int(high) if dash else first
    except ValueError:
        return None
    if not 0 < first <= last < 65536:
        return None
    return range(first, last + 1)


def _healthcheck(instruction: Instruction, config: dict[str, Any], filename: str) -> dict[str, Any]:
    text = instruction.text
    word, rest = [*text.split(None, 1), ""][:2]
    if word.upper() == "NONE":
        if rest.strip() or instruction.flags:
            raise fail(instruction, filename, "NONE takes no arguments or flags")
        return {"Test": ["NONE"]}
    if word.upper() != "CMD" or not rest.strip():
        raise fail(instruction, filename, "needs CMD and a command, or NONE")
    rest = rest.strip()
    if instruction.json is not None:
        test = ["CMD", *instruction.json]
    else:
        try:
            parsed = json.loads(rest)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            test = ["CMD", *parsed]
        else:
            test = ["CMD-SHELL", rest]
    check: dict[str, Any] = {"Test": test}
    for name, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        value = instruction.flag(name)
        if value:  # an empty --interval= keeps the default, as BuildKit's parser has it
            check[key] = duration_ns(value, f"--{name}")
    retries = instruction.flag("retries")
    if retries is not None:
        try:
            check["Retries"] = int(retries)
        except ValueError:
            raise fail(instruction, filename, f"invalid --retries {retries!r}") from None
    return check
