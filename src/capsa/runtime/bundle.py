"""Reading a bundle: config.json parsed and validated, the rootfs path resolved."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capsa.errors import InvalidArgument, NotFound, field_error
from capsa.fastjson import JSONError, loads
from capsa.oci.runtime_config import validate_runtime_config


@dataclass(frozen=True)
class Bundle:
    path: Path
    config: dict[str, Any]
    rootfs: Path


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    bundle = Path(os.path.abspath(path))
    config_path = bundle / "config.json"
    try:
        raw = config_path.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"no config.json in bundle {bundle}",
            hint="run `capsa-runtime spec` there, or pass --bundle",
        ) from None
    try:
        config = loads(raw)
    except (JSONError, UnicodeDecodeError) as exc:
        if not isinstance(exc, JSONError):
            raise InvalidArgument(f"{config_path} is not UTF-8 text") from None
        raise InvalidArgument(
            f"{config_path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    validate_runtime_config(config)
    assert isinstance(config, dict)
    root = Path(config["root"]["path"])
    rootfs = root if root.is_absolute() else bundle / root
    if not rootfs.is_dir():
        raise field_error("root.path", f"{rootfs} is not a directory")
    if "process" not in config:
        raise field_error("process", "is required to create a container")
    return Bundle(bundle, config, rootfs)
