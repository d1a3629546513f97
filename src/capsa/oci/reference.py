"""Image references (`docker.io/library/busybox:1.36@sha256:…`) parsed and normalised
exactly as Docker does it (distribution/reference: Parse, ParseNormalizedNamed,
FamiliarName, FamiliarString, TagNameOnly), so a name means here what it means to Docker:

    busybox            -> docker.io/library/busybox:latest   (shown as busybox:latest)
    user/app:1         -> docker.io/user/app:1                (shown as user/app:1)
    localhost:5000/a/b -> localhost:5000/a/b:latest

The first path component is a registry when it contains "." or ":", is "localhost", or
has uppercase letters (which repository names never do); otherwise the registry is
Docker Hub, whose legacy name index.docker.io is rewritten to docker.io.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from capsa.errors import InvalidArgument
from capsa.oci.digest import REGISTERED, Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# The grammar of distribution/reference's regexp.go. Character classes are spelled out:
# Go's \w is ASCII-only, Python's is not.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE_NAME}"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_SPLIT_NAME = re.compile(rf"(?:({_DOMAIN})/)?({_REMOTE_NAME})")
_TAG_ONLY = re.compile(_TAG)
_FULL_ID = re.compile(r"[a-f0-9]{64}")
_ID_PREFIX = re.compile(r"(?:sha256:)?([a-f0-9]{1,64})")

_FORMAT_HINT = "write it as [registry[:port]/]name[:tag][@digest], e.g. docker.io/library/busybox"


@dataclass(frozen=True)
class Reference:
    """A parsed reference. `domain` is "" only for references parsed with parse_exact()
    that name no registry; normalised references always have one."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The repository, registry included: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def familiar_name(self) -> str:
        """The repository as Docker shows it: `busybox`, `user/app`, `quay.io/x/y`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            path = path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar(self) -> str:
        """The whole reference as `docker images` shows it: `busybox:latest`."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        if not _TAG_ONLY.fullmatch(tag):
            raise InvalidArgument(
                f"invalid tag {tag!r}",
                hint="a tag is up to 128 letters, digits, '_', '.' and '-', "
                "and does not start with '.' or '-'",
            )
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest) -> Reference:
        return replace(self, digest=digest)

    def without_tag_or_digest(self) -> Reference:
        return Reference(self.domain, self.path)

    def _suffix(self) -> str:
        text = ""
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse_exact(text: str) -> Reference:
    """A reference as written, with no Docker Hub defaults (distribution's Parse):
    `busybox` has no domain here. For names users type, use parse_normalized_named()."""
    return _parse(text, text)


def _parse(text: str, shown: str) -> Reference:
    """Parse `text`; errors quote `shown`, what the user typed."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidArgument("invalid reference: the name is empty", hint=_FORMAT_HINT)
        if _REFERENCE.fullmatch(text.lower()):
            raise _invalid(shown, "repository names must be lowercase")
        raise _invalid(shown, "not a valid reference")
    name, tag, digest_text = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"invalid reference {_shorten(shown)!r}: the repository name has {len(name)} "
            f"characters, more than {NAME_TOTAL_LENGTH_MAX}",
            hint="use a shorter repository name",
        )
    split = _SPLIT_NAME.fullmatch(name)
    if split is None:  # cannot happen: _REFERENCE matched the same grammar
        raise _invalid(shown, "not a valid reference")
    domain, path = split.group(1) or "", split.group(2)
    return Reference(domain, path, tag, _parse_digest(shown, digest_text))


def parse_normalized_named(text: str) -> Reference:
    """What a user typed, with Docker's defaults (ParseNormalizedNamed): the Docker Hub
    registry and its `library/` namespace are filled in. No default tag is added."""
    if _FULL_ID.fullmatch(text):
        raise InvalidArgument(
            f"invalid reference {text!r}: a 64-character hexadecimal string is an image ID, "
            "not a repository name",
            hint="use it where an image ID is accepted, or prefix a registry (docker.io/…)",
        )
    if not text:
        raise InvalidArgument("invalid reference: the name is empty", hint=_FORMAT_HINT)
    domain, remainder = _split_docker_domain(text)
    remote_name = remainder.partition(":")[0]
    if remote_name.lower() != remote_name:
        raise _invalid(text, f"repository name {remote_name!r} must be lowercase")
    return _parse(f"{domain}/{remainder}", text)


def tag_name_only(reference: Reference) -> Reference:
    """Add the `latest` tag to a reference that has neither tag nor digest (TagNameOnly)."""
    if reference.is_name_only:
        return replace(reference, tag=DEFAULT_TAG)
    return reference


def parse_reference(text: str) -> Reference:
    """A reference the way `docker pull` reads it: normalised, `latest` if no tag or digest."""
    return tag_name_only(parse_normalized_named(text))


def parse_docker_ref(text: str) -> Reference:
    """containerd's and BuildKit's reading (ParseDockerRef): like parse_reference(), but a
    reference with both a tag and a digest keeps only the digest, which is what is pulled."""
    reference = parse_normalized_named(text)
    if reference.digest is not None:
        return Reference(reference.domain, reference.path, None, reference.digest)
    return tag_name_only(reference)


def is_full_id(text: str) -> bool:
    """A whole image ID: 64 lowercase hex characters (an optional `sha256:` too)."""
    return _FULL_ID.fullmatch(text.removeprefix("sha256:")) is not None


def looks_like_id(text: str, min_prefix: int = 4) -> bool:
    """True if `text` could be an image ID or a unique prefix of one: lowercase hex of at
    least `min_prefix` characters, optionally after `sha256:`.

    Such text may also be a valid repository name (`cafe`): look it up as a name first
    and as an ID second, as Docker does; only a full 64-character ID is never a name.
    """
    match = _ID_PREFIX.fullmatch(text)
    return match is not None and len(match.group(1)) >= min_prefix


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash or (
        "." not in first and ":" not in first and first != "localhost" and first == first.lower()
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse_digest(text: str, digest_text: str | None) -> Digest | None:
    if digest_text is None:
        return None
    algorithm = digest_text.partition(":")[0]
    if algorithm not in REGISTERED:
        raise InvalidArgument(
            f"invalid reference {_shorten(text)!r}: unsupported digest algorithm {algorithm!r}",
            hint="use a sha256 or sha512 digest",
        )
    try:
        return Digest.parse(digest_text)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"invalid reference {_shorten(text)!r}: {exc.message}",
            hint="a digest is written sha256:<64 lowercase hex characters>",
        ) from None


def _invalid(text: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid reference {_shorten(text)!r}: {reason}", hint=_FORMAT_HINT)


def _shorten(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "…"
