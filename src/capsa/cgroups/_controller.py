"""What every controller module provides: parse its part of `linux.resources` into typed
settings (validating all of it before anything is written), and write those settings
into a cgroup v1 directory or a cgroup v2 directory."""

from __future__ import annotations

from capsa.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar, Generic, TypeVar

    from capsa.cgroups._files import CgroupFiles

    S = TypeVar("S")
else:

    class Generic:
        """Stands in for typing.Generic at run time, where `Controller[X]` is `Controller`."""

        def __class_getitem__(cls, item: object) -> type:
            return cls

    S = None


def warn(message: str) -> None:
    """A setting we accept but cannot honour on this host. Logging loads only when used."""
    import logging

    logging.getLogger("capsa.cgroups").warning("%s", message)


class Controller(Generic[S]):
    """A cgroup controller and the `linux.resources` settings it implements."""

    name: ClassVar[str]  # for messages
    field: ClassVar[str]  # the resources field it comes from, for messages
    v1: ClassVar[str | None]  # the v1 hierarchy's controller, None if v1 has none
    v2: ClassVar[str | None]  # the v2 controller, None if v2 has none

    def parse(self, resources: Mapping[str, Any]) -> S | None:
        """Typed settings, or None when the config asks for nothing from this controller."""
        raise NotImplementedError

    def v2_available(self, controllers: frozenset[str]) -> bool:
        """Whether a v2 cgroup with these controllers enabled can hold the settings."""
        return self.v2 is not None and self.v2 in controllers

    def precheck(self, version: int, settings: S) -> None:
        """Refuse, before anything is written, settings this version cannot hold."""

    def apply_v1(self, files: CgroupFiles, directory: str, settings: S) -> None:
        raise Unavailable(f"{self.field} needs the {self.name} controller of cgroup v1")

    def apply_v2(self, files: CgroupFiles, directory: str, settings: S) -> None:
        raise Unavailable(f"{self.field} has no cgroup v2 equivalent")
