"""The docker-archive format: what `docker save` writes and `docker load` reads.

Readers of every version use `manifest.json`, a list of images:

    [{"Config": "<path of the image config>",
      "RepoTags": ["busybox:latest"],
      "Layers": ["<path of layer 0>", ...]}]

Paths vary by writer: Docker before 25 writes `<id>/layer.tar` (v1 layer directories,
uncompressed), Docker 25+ an OCI layout beside it with `blobs/sha256/<hex>`, and
containers/image (skopeo, podman) `<hex>.tar` files plus `<id>/` directories whose
`layer.tar` links to them. `repositories` (`{"busybox": {"latest": "<top layer id>"}}`)
and each `<id>/json` serve only loaders older than manifest.json.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from capsa.errors import InvalidArgument
from capsa.oci.canonical import canonical_bytes
from capsa.oci.digest import Digest

MANIFEST_FILE = "manifest.json"
REPOSITORIES_FILE = "repositories"
LEGACY_VERSION = b"1.0"
# The v1 JSON of a top layer carries these keys of the image config (as containers/image).
_TOP_LAYER_KEYS = ("architecture", "os", "variant", "config", "author", "created")
_BLOB_NAME = re.compile(r"blobs/(sha256|sha512)/([a-f0-9]{64,128})")
_HEX_TAR_NAME = re.compile(r"([a-f0-9]{64})\.tar")


@dataclass(frozen=True)
class ArchiveEntry:
    """One image of manifest.json."""

    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Config": self.config,
            "RepoTags": list(self.repo_tags),
            "Layers": list(self.layers),
        }


def parse_manifest_json(data: bytes, where: str) -> list[ArchiveEntry]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(f"{where}: {MANIFEST_FILE} is not valid JSON ({exc})") from None
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}: {MANIFEST_FILE} must be a list of images")
    entries: list[ArchiveEntry] = []
    for i, item in enumerate(value):
        at = f"{where}: {MANIFEST_FILE}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{at} is not an object")
        config = item.get("Config")
        layers = item.get("Layers")
        tags = item.get("RepoTags") or []
        if not isinstance(config, str) or not config:
            raise InvalidArgument(f"{at}.Config must be the path of the image config")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise InvalidArgument(f"{at}.Layers must be a list of paths")
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise InvalidArgument(f"{at}.RepoTags must be a list of names")
        entries.append(ArchiveEntry(config, tuple(layers), tuple(tags)))
    return entries


def manifest_json_bytes(entries: list[ArchiveEntry]) -> bytes:
    text = json.dumps([e.to_json() for e in entries], ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def digest_in_name(path: str) -> Digest | None:
    """The digest a layer's path spells, if the writer named it by content
    (`blobs/sha256/<hex>`, `<hex>.tar`). A hint to verify, never trusted alone."""
    match = _BLOB_NAME.fullmatch(path)
    if match:
        try:
            return Digest.parse(f"{match.group(1)}:{match.group(2)}")
        except InvalidArgument:
            return None
    match = _HEX_TAR_NAME.fullmatch(path)
    if match:
        return Digest("sha256", match.group(1))
    return None


def config_name(digest: Digest) -> str:
    return f"{digest.encoded}.json"


def layer_name(digest: Digest) -> str:
    return f"{digest.encoded}.tar"


def legacy_layer_ids(layers: tuple[Digest, ...]) -> list[str]:
    """v1 layer IDs: each depends on the layer and its parent's ID, as Docker's did, so a
    layer shared by two images under different parents gets two directories."""
    ids: list[str] = []
    parent = ""
    for digest in layers:
        parent = Digest.of(f"{parent} {digest}".encode()).encoded
        ids.append(parent)
    return ids


def legacy_layer_json(layer_id: str, parent: str | None, config: dict[str, Any] | None) -> bytes:
    """The v1 `<id>/json`: id and parent; the top layer also has the image's runtime
    config, which old loaders read from it."""
    document: dict[str, Any] = {"id": layer_id}
    if parent is not None:
        document["parent"] = parent
    document["created"] = "1970-01-01T00:00:00Z"
    if config is not None:
        for key in _TOP_LAYER_KEYS:
            if key in config:
                document[key] = config[key]
    return canonical_bytes(document)
