"""Layer identities from the image-spec: the chain ID names a layer *with* everything
below it, so the same diff on two different bases is two different snapshots.

    ChainID(L0) = DiffID(L0)
    ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from capsa.oci.digest import Digest


def chain_id(parent: str | Digest | None, diff_id: str | Digest) -> str:
    if parent is None:
        return str(Digest.parse(str(diff_id)))
    text = f"{Digest.parse(str(parent))} {Digest.parse(str(diff_id))}"
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def chain_ids(diff_ids: Iterable[str | Digest]) -> list[str]:
    result: list[str] = []
    parent: str | None = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        result.append(parent)
    return result
