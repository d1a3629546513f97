"""Reading a bundle: config.json parsed and validated, the rootfs path resolved."""

from __future__ import annotations

import os

from capsa.errors import InvalidArgument, NotFound, field_error
from capsa.fastjson import JSONError, loads
from capsa.oci.runtime_config import validate_runtime_config

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


class Bundle:
    __slots__ = ("config", "path", "raw", "rootfs")

    def __init__(self, path: str, config: dict[str, Any], rootfs: str, raw: bytes) -> None:
        self.path = path
        self.config = config
        self.rootfs = rootfs
        self.raw = raw  # config.json as read: what the container keeps of it


def load_bundle(path: str) -> Bundle:
    bundle = os.path.abspath(path)
    config_path = os.path.join(bundle, "config.json")
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(
            f"no config.json in bundle {bundle}",
            hint="run `capsa-runtime spec` there, or pass --bundle",
        ) from None
    try:
        config = loads(raw)
    except UnicodeDecodeError:
        raise InvalidArgument(f"{config_path} is not UTF-8 text") from None
    except JSONError as exc:
        raise InvalidArgument(f"{config_path} is not valid JSON: {exc}") from None
    validate_runtime_config(config)
    assert isinstance(config, dict)
    root = config["root"]["path"]
    rootfs = root if os.path.isabs(root) else os.path.join(bundle, root)
    if not os.path.isdir(rootfs):
        raise field_error("root.path", f"{rootfs} is not a directory")
    if "process" not in config:
        raise field_error("process", "is required to create a container")
    return Bundle(bundle, config, rootfs, raw)
