"""Time runs of one OCI runtime on one bundle, one per request, for runtime_start.py.

Reads container IDs from stdin, one a line; for each, runs `RUNTIME --root ROOT run
--bundle BUNDLE ID` and prints {"elapsed": seconds} or {"error": text} as a JSON line.
One such server per runtime lets runtime_start.py take their runs in turns, so that every
runtime meets the same load on a shared machine. It is sometimes run inside `unshare -m`
(crun refuses hybrid cgroups unless /sys/fs/cgroup/unified is hidden), so it must not
import capsa.

    python _time_runs.py RUNTIME BUNDLE ROOT
"""

import json
import subprocess
import sys
import time


def main() -> int:
    runtime, bundle, root = sys.argv[1], sys.argv[2], sys.argv[3]
    for line in sys.stdin:
        cid = line.strip()
        argv = [*runtime.split(), "--root", root, "run", "--bundle", bundle, cid]
        start = time.perf_counter()
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            reply = {"error": result.stderr.decode(errors="replace")[-500:]}
        else:
            reply = {"elapsed": elapsed}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
