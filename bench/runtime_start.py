"""Benchmark: start a busybox container running /bin/true, capsa-runtime against runc
and crun on the same bundle, median of N runs each, printed as ratios. Also the
in-process path the engine will use (no interpreter start).

    python bench/runtime_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def capsa_runtime() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")
    return candidate if os.path.exists(candidate) else shutil.which("capsa-runtime") or ""


def time_cli(runtime: str, bundle: str, runs: int, *, hide_unified: bool = False) -> list[float]:
    root = tempfile.mkdtemp(prefix="capsa-bench-root-")
    argv = [sys.executable, os.path.join(HERE, "_time_runs.py"), runtime, bundle, root, str(runs)]
    if hide_unified:
        argv = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"',
            "sh",
            *argv,
        ]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    data = json.loads(result.stdout or "{}") if result.stdout.strip() else {}
    if "samples" not in data:
        raise RuntimeError(f"{runtime}: {data.get('error') or result.stderr.strip()}")
    return list(data["samples"])


def time_in_process(bundle: str, runs: int) -> tuple[list[float], list[float]]:
    """(start samples, whole-run samples): create+start as the engine will call them, and
    the whole foreground run (create, start, wait, delete) for comparison with the CLIs."""
    from capsa.kernel import process as kproc
    from capsa.runtime.create import CreateOptions, create_container
    from capsa.runtime.delete import delete_container
    from capsa.runtime.signals import wait_for
    from capsa.runtime.start import start_container
    from capsa.runtime.state import StateStore

    kproc.set_child_subreaper()
    root = tempfile.mkdtemp(prefix="capsa-bench-inproc-")
    store = StateStore(root)
    starts, whole = [], []
    try:
        for index in range(runs + 2):
            cid = f"inproc-{index}"
            begin = time.perf_counter()
            state = create_container(store, cid, CreateOptions(bundle=bundle))
            start_container(store, cid)
            started = time.perf_counter()
            status = wait_for(state.pid)
            delete_container(store, cid, force=True)
            done = time.perf_counter()
            if status != 0:
                raise RuntimeError(f"in-process run exited with status {status}")
            if index >= 2:
                starts.append(started - begin)
                whole.append(done - begin)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return starts, whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("runtime_start: needs root", file=sys.stderr)
        return 2
    from capsa.runtime.busybox_bundle import make_bundle

    workdir = tempfile.mkdtemp(prefix="capsa-bench-")
    try:
        bundle = make_bundle(os.path.join(workdir, "bundle"), ["/bin/true"])
        results: dict[str, float] = {}
        tools = [
            ("capsa-runtime", capsa_runtime(), False),
            ("runc", shutil.which("runc"), False),
            ("crun", shutil.which("crun"), True),
        ]
        for name, path, hide in tools:
            if not path:
                print(f"{name:<24} not installed")
                continue
            try:
                samples = time_cli(path, bundle, args.runs, hide_unified=hide)
            except RuntimeError as exc:
                print(f"{name:<24} failed: {exc}")
                continue
            results[name] = statistics.median(samples)
        starts, whole = time_in_process(bundle, args.runs)
        results["capsa in-process run"] = statistics.median(whole)
        results["capsa in-process start"] = statistics.median(starts)
        print(f"container start, busybox /bin/true, median of {args.runs} runs")
        for name, value in results.items():
            line = f"{name:<24} {value * 1000:7.1f} ms"
            for ref in ("runc", "crun"):
                if ref in results and name != ref:
                    line += f"   {value / results[ref]:5.2f}x {ref}"
            print(line)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
