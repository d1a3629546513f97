"""The one error a template raises: a bad template or a failed execution, one line."""

from __future__ import annotations

from capsa.errors import InvalidArgument


class TemplateError(InvalidArgument):
    """The template cannot be parsed, or executing it failed (an unknown field...)."""
