"""Where capsa's roots are by default, without the Config dataclass: what a command that
only needs a path (the `capsa` command on its way to the command server) reads cheaply.
capsa.config builds on it."""

from __future__ import annotations

import os

ROOT_DATA = "/var/lib/capsa"
ROOT_RUN = "/run/capsa"


def is_root() -> bool:
    return os.geteuid() == 0


def default_data_root() -> str:
    """/var/lib/capsa for root, $XDG_DATA_HOME/capsa (or ~/.local/share/capsa) otherwise."""
    if is_root():
        return ROOT_DATA
    value = os.environ.get("XDG_DATA_HOME")
    base = (
        value
        if value and os.path.isabs(value)
        else os.path.join(os.path.expanduser("~"), ".local/share")
    )
    return os.path.join(base, "capsa")


def default_run_root() -> str:
    """/run/capsa for root, $XDG_RUNTIME_DIR/capsa (or /tmp/capsa-run-UID/capsa) otherwise."""
    if is_root():
        return ROOT_RUN
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/capsa-run-{os.geteuid()}"
    return os.path.join(runtime_dir, "capsa")


def command_roots(root: str | None = None, run_root: str | None = None) -> tuple[str, str]:
    """The (root, run root) a command works on: the flags', else $CAPSA_ROOT and
    $CAPSA_RUNROOT, else the defaults. A root of its own without a run root gets
    `<root>/run`, so that two roots never share live state."""
    root = root or os.environ.get("CAPSA_ROOT") or None
    run_root = run_root or os.environ.get("CAPSA_RUNROOT") or None
    if root and not run_root:
        run_root = os.path.join(root, "run")
    return root or default_data_root(), run_root or default_run_root()
