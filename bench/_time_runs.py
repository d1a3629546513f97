"""Time N runs of one OCI runtime on one bundle; print the samples as JSON.

Run by runtime_start.py, sometimes inside `unshare -m` (crun refuses hybrid cgroups
unless /sys/fs/cgroup/unified is hidden), so it must not import capsa."""

import json
import subprocess
import sys
import time


def main() -> int:
    runtime, bundle, root, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    samples = []
    for index in range(runs + 2):
        cid = f"bench-{index}"
        argv = [*runtime.split(), "--root", root, "run", "--bundle", bundle, cid]
        start = time.perf_counter()
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            print(json.dumps({"error": result.stderr.decode(errors="replace")[-500:]}))
            return 1
        if index >= 2:  # two warm-up runs
            samples.append(elapsed)
    print(json.dumps({"samples": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
