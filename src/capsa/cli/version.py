"""capsa version"""

from __future__ import annotations

import platform

from capsa import OCI_RUNTIME_SPEC_VERSION, __version__


def run(args: list[str]) -> int:
    print(f"capsa version {__version__}")
    print(f"OCI runtime-spec: {OCI_RUNTIME_SPEC_VERSION}")
    print(f"python: {platform.python_version()}")
    print(f"os/arch: linux/{platform.machine()}")
    return 0
