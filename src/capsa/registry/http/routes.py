"""Which endpoint of the distribution-spec a path is.

`<name>` holds slashes, so a path is read from its end: the last segments say the
endpoint (`blobs/<digest>`, `blobs/uploads/<id>`, `manifests/<ref>`, `tags/list`,
`referrers/<digest>`) and what comes before them is the repository name.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = "base"
CATALOG = "catalog"
TOKEN = "token"
BLOB = "blob"
UPLOADS = "uploads"  # POST /v2/<name>/blobs/uploads/
UPLOAD = "upload"  # /v2/<name>/blobs/uploads/<id>
MANIFEST = "manifest"
TAGS = "tags"
REFERRERS = "referrers"


@dataclass(frozen=True)
class Route:
    kind: str
    name: str = ""
    arg: str = ""


def parse(path: str, token_path: str = "/token") -> Route | None:
    if path in ("/v2/", "/v2"):
        return Route(BASE)
    if path == token_path:
        return Route(TOKEN)
    if not path.startswith("/v2/"):
        return None
    rest = path[4:]
    if rest == "_catalog":
        return Route(CATALOG)
    if rest.endswith("/tags/list"):
        return Route(TAGS, rest[: -len("/tags/list")]) if len(rest) > 10 else None
    segments = rest.split("/")
    if len(segments) < 3:
        return None
    last, kind = segments[-1], segments[-2]
    if kind == "uploads" and segments[-3] == "blobs" and len(segments) > 3:
        name = "/".join(segments[:-3])
        return Route(UPLOADS, name) if last == "" else Route(UPLOAD, name, last)
    name = "/".join(segments[:-2])
    if not last:
        return None
    if kind == "blobs":
        return Route(BLOB, name, last)
    if kind == "manifests":
        return Route(MANIFEST, name, last)
    if kind == "referrers":
        return Route(REFERRERS, name, last)
    return None
