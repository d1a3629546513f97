"""One frozen Config passed down from the front ends: paths and defaults, no globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from capsa import paths


@dataclass(frozen=True)
class Config:
    """Where capsa keeps its state, for root or for a rootless user."""

    root: Path
    run_root: Path
    runtime_root: Path
    rootless: bool = False
    default_runtime: str = "capsa"
    cgroup_parent: str = "capsa"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, root: str | None = None, run_root: str | None = None) -> Config:
        """Podman-like defaults: /var/lib/capsa for root, XDG dirs for other users."""
        rootless = not paths.is_root()
        data = Path(root) if root else Path(paths.default_data_root())
        run = Path(run_root) if run_root else Path(paths.default_run_root())
        return cls(root=data, run_root=run, runtime_root=run / "runtime", rootless=rootless)
