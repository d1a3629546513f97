"""What the distribution-spec allows as a repository name, a tag and a digest."""

from __future__ import annotations

import re

from capsa.errors import InvalidArgument
from capsa.oci.digest import REGISTERED, Digest
from capsa.registry.errors import RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# Many clients cap `host/name` at 255 characters; docker-registry refuses longer names.
MAX_NAME = 255


def is_name(name: str) -> bool:
    return len(name) <= MAX_NAME and NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not is_name(name):
        raise RegistryError(
            "NAME_INVALID",
            "invalid repository name",
            detail={"name": name, "reason": f"must match {NAME.pattern}, at most {MAX_NAME}"},
        )
    return name


def is_tag(reference: str) -> bool:
    return TAG.fullmatch(reference) is not None


def parse_digest(text: str, *, code: str = "DIGEST_INVALID") -> Digest:
    """A digest the registry can verify (sha256 or sha512), else `code` (400)."""
    try:
        digest = Digest.parse(text)
    except InvalidArgument as error:
        raise RegistryError(code, str(error), detail={"digest": text}, status=400) from None
    if digest.algorithm not in REGISTERED:
        raise RegistryError(
            code,
            f"unsupported digest algorithm {digest.algorithm!r}",
            detail={"digest": text, "supported": sorted(REGISTERED)},
            status=400,
        )
    return digest
