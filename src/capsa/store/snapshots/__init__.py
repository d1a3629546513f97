"""Snapshotters: overlay (shared read-only layers, a writable upper per container) and
vfs (copies), behind one interface; they return mounts and never perform them."""

from capsa.store.snapshots.base import (
    ApplyTarget,
    Info,
    Kind,
    Mount,
    Snapshotter,
    Usage,
    disk_usage,
)
from capsa.store.snapshots.overlay import OverlaySnapshotter
from capsa.store.snapshots.vfs import VfsSnapshotter

TYPE_CHECKING = False
if TYPE_CHECKING:  # both must keep to the protocol
    _overlay: type[Snapshotter] = OverlaySnapshotter
    _vfs: type[Snapshotter] = VfsSnapshotter

__all__ = [
    "ApplyTarget",
    "Info",
    "Kind",
    "Mount",
    "OverlaySnapshotter",
    "Snapshotter",
    "Usage",
    "VfsSnapshotter",
    "disk_usage",
]
