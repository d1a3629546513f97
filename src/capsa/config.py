"""One frozen Config passed down from the front ends: paths and defaults, no globals."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _is_root() -> bool:
    return os.geteuid() == 0


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


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
        if _is_root():
            data = Path("/var/lib/capsa")
            run = Path("/run/capsa")
            rootless = False
        else:
            data = _xdg("XDG_DATA_HOME", ".local/share") / "capsa"
            runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/capsa-run-{os.geteuid()}"
            run = Path(runtime_dir) / "capsa"
            rootless = True
        data = Path(root) if root else data
        run = Path(run_root) if run_root else run
        return cls(root=data, run_root=run, runtime_root=run / "runtime", rootless=rootless)
