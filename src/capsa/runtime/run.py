"""`run`: create and start in one go; in the foreground, wait for the container and
delete it afterwards, returning its exit status (as runc does)."""

from __future__ import annotations

import os

from capsa.kernel import process as kproc
from capsa.runtime.create import CreateOptions, create_container
from capsa.runtime.delete import delete_container
from capsa.runtime.signals import exit_code, forward_signals, wait_for
from capsa.runtime.start import start_container
from capsa.runtime.state import StateStore


def run_container(
    store: StateStore, container_id: str, options: CreateOptions, *, detach: bool
) -> int:
    proxy = None
    if not detach:
        # The init's parent (the intermediate) exits at once: become the reaper it is
        # handed to, so that we can wait for it.
        kproc.set_child_subreaper()
    if not detach and not options.console_socket and _wants_terminal(options):
        from capsa.runtime.tty import TtyProxy

        proxy = TtyProxy()
        options = options.with_console(proxy.theirs)
    state = create_container(store, container_id, options)
    try:
        if proxy is not None:
            proxy.after_fork()
            proxy.receive()
        start_container(store, container_id)
    except BaseException:
        delete_container(store, container_id, force=True)
        raise
    if detach:
        return 0
    try:
        with forward_signals(state.pid):
            status = proxy.relay(state.pid) if proxy is not None else wait_for(state.pid)
    finally:
        delete_container(store, container_id, force=True)
    return exit_code(status)


def _wants_terminal(options: CreateOptions) -> bool:
    from capsa.fastjson import JSONError, loads

    try:
        with open(os.path.join(options.bundle, "config.json"), "rb") as f:
            config = loads(f.read())
    except (OSError, JSONError, UnicodeDecodeError):
        return False  # create_container reports a missing or broken config properly
    process = config.get("process") if isinstance(config, dict) else None
    return bool(isinstance(process, dict) and process.get("terminal"))
