"""Benchmark: start a busybox container running /bin/true, capsa-runtime against runc
and crun on the same bundle, median of N runs each, printed as ratios. Also the
in-process path the engine will use (no interpreter start). Three orders: each
runtime's runs back to back; the runtimes taking their runs in turns, so that the load
of a shared machine falls on each alike; and back to back with a pause before each run.

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

from _tools import parent_cgroups_removed

HERE = os.path.dirname(os.path.abspath(__file__))
SPACING = 0.05  # seconds before each run of the "spaced" order


def capsa_runtime() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")
    return candidate if os.path.exists(candidate) else shutil.which("capsa-runtime") or ""


class CliTimer:
    """A _time_runs.py server for one runtime: one timed `run` per call."""

    def __init__(self, name: str, runtime: str, bundle: str, *, hide_unified: bool) -> None:
        self.name = name
        self.root = tempfile.mkdtemp(prefix="capsa-bench-root-")
        argv = [sys.executable, os.path.join(HERE, "_time_runs.py"), runtime, bundle, self.root]
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
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, cid: str) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(cid + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        reply = json.loads(line) if line.strip() else {"error": "the timing helper died"}
        if "elapsed" not in reply:
            raise RuntimeError(f"{self.name}: {reply.get('error', '').strip()}")
        return float(reply["elapsed"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


class InProcessTimer:
    """create+start as the engine will call them (no interpreter start), and the whole
    foreground run (create, start, wait, delete) for comparison with the CLIs."""

    def __init__(self, bundle: str) -> None:
        from capsa.kernel import process as kproc
        from capsa.runtime.create import CreateOptions, create_container
        from capsa.runtime.delete import delete_container
        from capsa.runtime.signals import wait_for
        from capsa.runtime.start import start_container
        from capsa.runtime.state import StateStore

        kproc.set_child_subreaper()
        self.root = tempfile.mkdtemp(prefix="capsa-bench-inproc-")
        self.store = StateStore(self.root)
        self.options = CreateOptions(bundle=bundle)
        self.create, self.start = create_container, start_container
        self.wait, self.delete = wait_for, delete_container

    def run(self, cid: str) -> tuple[float, float]:
        begin = time.perf_counter()
        state = self.create(self.store, cid, self.options)
        self.start(self.store, cid)
        started = time.perf_counter()
        status = self.wait(state.pid)
        self.delete(self.store, cid, force=True)
        done = time.perf_counter()
        if status != 0:
            raise RuntimeError(f"in-process run exited with status {status}")
        return started - begin, done - begin

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _measure(
    timers: list[CliTimer], in_process: InProcessTimer, runs: int, order: str
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Samples by name, and the runtimes that failed with why. "back to back": each
    runtime's runs one after the other (a runtime that takes the kernel's cgroup
    migration lock finds it still warm from its previous run); "in turns": a run of each
    in every round, so that each meets the same load and none warms the lock for itself;
    "spaced": back to back with a pause before each run, as starts come on a host that
    does not start containers in a loop (the lock has cooled down: runc's first write to
    cgroup.procs waits for an RCU grace period again). The first two runs of each warm
    up."""
    samples: dict[str, list[float]] = {t.name: [] for t in timers}
    samples["capsa in-process run"], samples["capsa in-process start"] = [], []
    failed: dict[str, str] = {}

    def cli(timer: CliTimer, index: int) -> None:
        if timer.name in failed:
            return
        try:
            elapsed = timer.run(f"{order.split(maxsplit=1)[0]}-{index}")
        except RuntimeError as exc:
            failed[timer.name] = str(exc)
            return
        if index >= 2:
            samples[timer.name].append(elapsed)

    def inproc(index: int) -> None:
        start, whole = in_process.run(f"inproc-{order.split(maxsplit=1)[0]}-{index}")
        if index >= 2:
            samples["capsa in-process start"].append(start)
            samples["capsa in-process run"].append(whole)

    pause = SPACING if order.startswith("spaced") else 0.0
    if order == "in turns":
        for index in range(runs + 2):
            for timer in timers:
                cli(timer, index)
            inproc(index)
    else:
        for timer in timers:
            for index in range(runs + 2):
                time.sleep(pause)
                cli(timer, index)
        for index in range(runs + 2):
            time.sleep(pause)
            inproc(index)
    return samples, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("runtime_start: needs root", file=sys.stderr)
        return 2
    from capsa.runtime.busybox_bundle import make_bundle

    workdir = tempfile.mkdtemp(prefix="capsa-bench-")
    timers: list[CliTimer] = []
    in_process = None
    try:
        bundle = make_bundle(os.path.join(workdir, "bundle"), ["/bin/true"])
        for name, path, hide in (
            ("capsa-runtime", capsa_runtime(), False),
            ("runc", shutil.which("runc"), False),
            ("crun", shutil.which("crun"), True),
        ):
            if path:
                timers.append(CliTimer(name, path, bundle, hide_unified=hide))
            else:
                print(f"{name:<24} not installed")
        in_process = InProcessTimer(bundle)
        names = [t.name for t in timers] + ["capsa in-process run", "capsa in-process start"]
        for order in ("back to back", "in turns", f"spaced {SPACING * 1000:.0f} ms apart"):
            samples, failed = _measure(timers, in_process, args.runs, order)
            for name, reason in failed.items():
                print(f"{name:<24} failed: {reason}")
            results = {n: statistics.median(samples[n]) for n in names if samples.get(n)}
            print(f"container start, busybox /bin/true, median of {args.runs} runs, {order}")
            for name, value in results.items():
                line = f"{name:<24} {value * 1000:7.1f} ms"
                for ref in ("runc", "crun"):
                    if ref in results and name != ref:
                        line += f"   {value / results[ref]:5.2f}x {ref}"
                print(line)
    finally:
        for timer in timers:
            timer.close()
        if in_process is not None:
            in_process.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with parent_cgroups_removed():
        sys.exit(main())
