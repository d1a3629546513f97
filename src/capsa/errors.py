"""The exception tree of capsa, documented in one place.

Library code raises these and never prints. Command-line front ends map each kind to an
exit code and one line: what failed, on what, why, and what to do. As Docker's `run`: 125
for every engine error, 126 when the container's program cannot be invoked, 127 when it
is not found.
"""

from __future__ import annotations


class CapsaError(Exception):
    """Root of every error capsa raises on purpose."""

    exit_code = 125

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class InvalidArgument(CapsaError):
    """The caller asked for something malformed (a bad flag, a bad config field)."""


class NotFound(CapsaError):
    """A named thing (container, image, file) does not exist."""


class AlreadyExists(CapsaError):
    """A thing with that name or ID already exists."""


class Conflict(CapsaError):
    """The request is well-formed but the target is in the wrong state for it."""


class PermissionDenied(CapsaError):
    """The caller lacks a privilege the operation needs."""


class CommandNotFound(NotFound):
    """The container's program does not exist (Docker's exit status 127)."""

    exit_code = 127


class CommandNotInvokable(PermissionDenied):
    """The container's program exists but cannot be run (Docker's exit status 126)."""

    exit_code = 126


class Unavailable(CapsaError):
    """The host cannot do this (a missing kernel feature, LSM, cgroup controller...)."""


class Timeout(CapsaError):
    """An operation did not complete in the time it was given."""


class HookFailed(CapsaError):
    """An OCI lifecycle hook exited non-zero or timed out."""


class ContainerError(CapsaError):
    """Setting up the container process failed inside the container's namespaces."""


def field_error(field: str, reason: str, hint: str | None = None) -> InvalidArgument:
    """An InvalidArgument that names the offending config field, e.g. `process.args`."""
    return InvalidArgument(f"invalid {field}: {reason}", hint=hint)
