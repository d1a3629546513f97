"""`capsa system reset`: everything of one capsa root removed from the host, as `podman
system reset` does, through the same removal paths as `rm -f`, `volume rm` and `rmi -f`
(so their clean-up of mounts, cgroups and files is the one that runs) and capsa.network's
own reset (links, nftables table, DNS server, namespaces); then the monitor host of the
root leaves, and the root's directories are emptied.

It is the user's last resort, so it never stops half way: each part that fails is one
line of the result, and the rest goes on. What only the layers above know of (the build
cache) comes in as `store_steps`, run on the image store before its images go.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from capsa.config import Config
from capsa.engine import root_dirs
from capsa.engine.layout import Layout
from capsa.errors import NotFound

if TYPE_CHECKING:
    from capsa.store.store import Store

StoreStep = tuple[str, Callable[["Store"], object]]  # ("remove the build cache", how)


def check_resettable(config: Config) -> None:
    """InvalidArgument, before anything is touched, when the root or the run root is a
    directory that is not capsa's (a mistyped --root)."""
    root_dirs.check_ours(str(config.root), root_dirs.ROOT_MARKERS)
    root_dirs.check_ours(str(config.run_root), root_dirs.RUN_MARKERS)


class _Failures(list[str]):
    def attempt(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:  # a corrupt database too: reset goes on
            self.append(f"cannot {what}: {error}")


def reset(config: Config, *, store_steps: Sequence[StoreStep] = ()) -> list[str]:
    """Remove every container (forced), volume, image, network and the monitor host of
    this root, then empty its root and run root; the failures, one line each (empty:
    all went)."""
    from capsa.engine.spawner import stop_host

    check_resettable(config)
    failures = _Failures()
    engine_part = functools.partial(_remove_containers_and_volumes, config, failures)
    failures.attempt("remove the containers and volumes", engine_part)
    store_part = functools.partial(_remove_images, config, store_steps, failures)
    failures.attempt("remove the images", store_part)
    failures.attempt("remove the networks", lambda: _reset_networks(config))
    failures.attempt("stop the monitor host", lambda: stop_host(Layout(config)))
    directories = [str(config.run_root), str(config.root)]
    for directory in directories:
        failures.extend(root_dirs.unmount_under(directory))
    for directory in directories:
        failures.extend(root_dirs.empty(directory))
    return failures


def _remove_containers_and_volumes(config: Config, failures: _Failures) -> None:
    from capsa.engine.engine import Engine

    with Engine(config) as engine:

        def remove_container(container_id: str) -> None:
            with contextlib.suppress(NotFound):  # --rm: its monitor removed it meanwhile
                engine.remove(container_id, force=True, volumes=True)

        for record in engine.db.containers():
            failures.attempt(
                f"remove container {record.name} ({record.id[:12]})",
                functools.partial(remove_container, record.id),
            )
        for volume in engine.volumes.all():
            name = volume.record.name
            remove = functools.partial(engine.volumes.remove, name, force=True)
            failures.attempt(f"remove volume {name}", remove)


def _remove_images(config: Config, store_steps: Sequence[StoreStep], failures: _Failures) -> None:
    """The store steps, every image by ID and forced (`rmi -f`), then what only they
    held."""
    from capsa.store.images import collect, remove_image
    from capsa.store.store import Store

    with Store(Layout(config).storage) as store:
        for what, step in store_steps:
            failures.attempt(what, functools.partial(step, store))
        released: set[str] = set()

        def remove(image_id: str) -> None:
            with contextlib.suppress(NotFound):  # went with an index removed before it
                released.update(remove_image(store.metadata, image_id, force=True).blobs)

        for record in store.metadata.images():
            failures.attempt(f"remove image {record.id}", functools.partial(remove, record.id))
        collect(store, released)


def _reset_networks(config: Config) -> None:
    from capsa.network.networks import Networks

    with Networks(config) as networks:
        networks.reset()
