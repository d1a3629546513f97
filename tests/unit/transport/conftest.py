"""Fixtures of the transport unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# transport_images.py (the image builder) sits beside this file; the interop tests
# import it too, through the same path.
sys.path.insert(0, str(Path(__file__).parent))
