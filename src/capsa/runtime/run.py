"""`run`: create and start in one go; in the foreground, wait for the container and
delete it afterwards, returning its exit status (as runc does)."""

from __future__ import annotations

from capsa.kernel import process as kproc
from capsa.oci.runtime_config import validate_container_id
from capsa.runtime.bundle import load_bundle
from capsa.runtime.create import CreateOptions, create_from_bundle
from capsa.runtime.delete import delete_container
from capsa.runtime.signals import exit_code, forward_signals, wait_for
from capsa.runtime.start import start_container
from capsa.runtime.state import StateStore


def run_container(
    store: StateStore, container_id: str, options: CreateOptions, *, detach: bool
) -> int:
    proxy = None
    if not detach:
        # The init is our child, or the intermediate's, which exits at once: become the
        # reaper it is handed to, so that we can wait for it either way.
        kproc.set_child_subreaper()
    validate_container_id(container_id)
    bundle = load_bundle(options.bundle)  # once: create_from_bundle does not read it again
    terminal = bool(bundle.config["process"].get("terminal"))
    if not detach and not options.console_socket and terminal:
        from capsa.runtime.tty import TtyProxy

        proxy = TtyProxy()
        options = options.with_console(proxy.theirs)
    state = create_from_bundle(store, container_id, options, bundle)
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
