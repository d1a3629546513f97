"""Every file-system operation on cgroupfs goes through `CgroupFiles`.

One open/write/close per value, no buffering (cgroupfs parses each write(2) on its own).
Errors become capsa errors that say what was written where and why the kernel refused.
Unit tests substitute a subclass that simulates the kernel populating new directories.
"""

from __future__ import annotations

import errno
import os

from capsa.errors import (
    CapsaError,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.cgroups.ebpf import Insn

_WRITE_FLAGS = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def flat_keyed(text: str | None) -> dict[str, int]:
    """Parse "key value" lines (memory.stat, cpu.stat, memory.events...)."""
    result: dict[str, int] = {}
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            try:
                result[key] = int(value)
            except ValueError:
                continue
    return result


def write_error(err: OSError, path: str, value: str, field: str | None) -> CapsaError:
    what = f"cannot set {field}: " if field else ""
    detail = f"{what}writing {value.strip()!r} to {path}: {os.strerror(err.errno or 0)}"
    code = err.errno
    if code == errno.ENOENT:
        if not os.path.isdir(os.path.dirname(path)):
            return NotFound(detail, hint="the cgroup does not exist; create it first")
        return Unavailable(detail, hint="this kernel or cgroup controller lacks that file")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(detail)
    if code == errno.ESRCH:
        return NotFound(detail, hint="the process has exited")
    if code == errno.EBUSY:
        return Conflict(detail)
    if code in (errno.EINVAL, errno.ERANGE, errno.EOVERFLOW, errno.ENOSPC, errno.EDOM):
        return InvalidArgument(detail, hint="the kernel refused the value")
    if code == errno.EOPNOTSUPP:
        return Unavailable(detail)
    return CapsaError(detail)


class CgroupFiles:
    """Reads and writes control files and makes and removes cgroup directories."""

    def write(self, directory: str, name: str, value: str, *, field: str | None = None) -> None:
        path = f"{directory}/{name}"
        try:
            fd = os.open(path, _WRITE_FLAGS)
        except OSError as err:
            raise write_error(err, path, value, field) from None
        try:
            os.write(fd, value.encode())
        except OSError as err:
            raise write_error(err, path, value, field) from None
        finally:
            os.close(fd)

    def read(self, directory: str, name: str) -> str:
        """The file's content without its trailing newline; OSError if it cannot be read."""
        fd = os.open(f"{directory}/{name}", _READ_FLAGS)
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks).decode().rstrip("\n")

    def read_optional(self, directory: str, name: str) -> str | None:
        """The content, or None when the file does not exist (a feature the kernel lacks,
        or a cgroup removed meanwhile: its open files then read as ENODEV)."""
        try:
            return self.read(directory, name)
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno == errno.ENODEV:
                return None
            raise

    def exists(self, directory: str, name: str) -> bool:
        return os.path.exists(f"{directory}/{name}")

    def mkdir(self, path: str) -> bool:
        """Make one directory; False if it already existed."""
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            return False
        return True

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def subdirectories(self, path: str) -> list[str]:
        try:
            with os.scandir(path) as entries:
                return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def attach_device_program(
        self, directory: str, insns: list[Insn], *, field: str | None = None
    ) -> None:
        """Replace the cgroup v2 device-control eBPF program of `directory`."""
        from capsa.cgroups import ebpf

        what = f"cannot apply {field}: " if field else ""
        try:
            ebpf.replace_device_program(directory, insns)
        except ebpf.VerifierError as err:
            raise CapsaError(
                f"{what}the kernel refused the device-control eBPF program: {err.strerror}",
                hint=err.log.strip().splitlines()[-1] if err.log.strip() else None,
            ) from None
        except OSError as err:
            detail = f"{what}attaching a device-control eBPF program to {directory}: " + (
                os.strerror(err.errno or 0)
            )
            if err.errno in (errno.EPERM, errno.EACCES):
                raise PermissionDenied(detail, hint="needs CAP_SYS_ADMIN or CAP_BPF") from None
            if err.errno in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise Unavailable(detail, hint="the kernel lacks CONFIG_CGROUP_BPF") from None
            if err.errno == errno.ENOENT:
                raise NotFound(detail) from None
            raise CapsaError(detail) from None
