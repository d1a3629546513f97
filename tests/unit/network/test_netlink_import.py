"""capsa loads pyroute2's messages without its package __init__ (100 ms of imports);
that must not break a later plain `import pyroute2` in the same process."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys, time
start = time.perf_counter()
from capsa.network.netlink import _classes
ifinfmsg, ifaddrmsg, rtmsg = _classes()
lean = time.perf_counter() - start
assert "asyncio" not in sys.modules and "pyroute2.ndb" not in sys.modules, "heavy import"
assert "pyroute2" not in sys.modules  # the stand-in package is gone
msg = ifinfmsg()
msg["attrs"] = [("IFLA_IFNAME", "capsa9")]
msg.encode()
decoded = ifinfmsg(msg.data)
decoded.decode()
assert decoded.get_attr("IFLA_IFNAME") == "capsa9"
import pyroute2
from pyroute2 import IPRoute  # the real package still works afterwards
assert pyroute2.IPRoute is IPRoute
print(lean)
"""


def test_lean_import_then_real_import() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
