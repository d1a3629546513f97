"""`python -m capsa.network.dns ...`: the DNS server process (see server.py)."""

from __future__ import annotations

import sys

from capsa.network.dns.server import main

sys.exit(main(sys.argv[1:]))
