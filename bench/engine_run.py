"""Benchmark: the container engine against podman, side by side in one run.

    run --rm    `capsa run --rm busybox true` vs `podman run --rm busybox true`, with
                `--network none` and on the default bridge network; median of N runs,
                taken in turns so that the load of a shared machine falls on each alike
    fifty       fifty detached `sleep` containers started one after another, then removed
                (`rm -f`): the time of each phase
    memory      the supervision memory per running container: capsa's monitors (and its
                spawner, shared out) against podman's conmon, as PSS (smaps_rollup)

Both use their own temporary stores and the same busybox image (capsa's default image,
saved and loaded into podman), and run inside a network namespace made for the benchmark
(their bridges and firewall rules go with it). podman runs with runc (crun 1.8 refuses
hybrid cgroups) and the cgroupfs manager, with the ulimits this machine allows.

    python bench/engine_run.py [--runs 20] [--containers 50]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _tools import Tool, parent_cgroups_removed

CAPSA = str(Path(sys.executable).with_name("capsa"))
PODMAN = shutil.which("podman")
PODMAN_FLAGS = ["--cgroup-manager", "cgroupfs", "--runtime", "runc"]
PODMAN_RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def make_tools(base: Path, netns: str) -> tuple[Tool, Tool | None]:
    enter = ["nsenter", f"--net={netns}"]
    capsa = Tool("capsa", [*enter, CAPSA], {**os.environ, "CAPSA_ROOT": str(base / "capsa")})
    capsa("image", "default")
    if PODMAN is None:
        return capsa, None
    archive = base / "busybox.tar"
    capsa("save", "-o", str(archive), "busybox")
    storage = ["--root", str(base / "podman"), "--runroot", str(base / "podman-run")]
    podman = Tool("podman", [*enter, PODMAN, *storage, *PODMAN_FLAGS], dict(os.environ))
    podman("load", "-i", str(archive))
    return capsa, podman


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_run_rm(capsa: Tool, podman: Tool | None, runs: int) -> None:
    cases: list[tuple[str, Callable[[], float]]] = []
    for network in ("none", "bridge"):
        cases.append(
            (
                f"capsa run --rm ({network})",
                lambda n=network: capsa.timed("run", "--rm", "--network", n, "busybox", "true"),
            )
        )
        if podman is not None:
            cases.append(
                (
                    f"podman run --rm ({network})",
                    lambda n=network: podman.timed(
                        "run", "--rm", "--network", n, *PODMAN_RUN, "busybox", "true"
                    ),
                )
            )
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    for index in range(runs + 2):
        for name, case in cases:
            elapsed = case()
            if index >= 2:  # two warm-up runs each
                samples[name].append(elapsed)
    print(f"run --rm busybox true, median of {runs} runs, in turns")
    for network in ("none", "bridge"):
        ours = median_ms(samples[f"capsa run --rm ({network})"])
        line = f"  {network:<7} capsa {ours:7.1f} ms"
        key = f"podman run --rm ({network})"
        if key in samples:
            theirs = median_ms(samples[key])
            line += f"   podman {theirs:7.1f} ms   ratio {ours / theirs:.2f}x"
        print(line)


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes_matching(predicate: Callable[[int, bytes], bool]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if predicate(int(entry), cmdline):
            found.append(int(entry))
    return found


def capsa_supervisors(root: str) -> list[int]:
    """The spawner and its monitors (forks of it, so they share its command line)."""
    return processes_matching(
        lambda pid, cmd: b"capsa.engine.spawner" in cmd and root.encode() in _environ(pid)
    )


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def podman_supervisors(root: str) -> list[int]:
    return processes_matching(
        lambda pid, cmd: cmd.startswith(b"/usr/bin/conmon") and root.encode() in cmd
    )


def bench_fifty(
    tool: Tool, count: int, extra: list[str], supervisors: Callable[[], list[int]]
) -> tuple[float, float, float]:
    """(start seconds, remove seconds, PSS KiB per container)."""
    names = [f"bench{index}" for index in range(count)]
    start = time.perf_counter()
    for name in names:
        tool("run", "-d", "--name", name, "--network", "none", *extra, "busybox", "sleep", "600")
    started = time.perf_counter() - start
    time.sleep(1.0)  # let every monitor settle
    pss = sum(pss_kib(pid) for pid in supervisors()) / count
    start = time.perf_counter()
    tool("rm", "-f", *names)
    removed = time.perf_counter() - start
    return started, removed, pss


def in_namespace(netns: str) -> list[int]:
    try:
        wanted = os.stat(netns).st_ino
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}/ns/net").st_ino == wanted:
                    found.append(int(entry))
    return found


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--containers", type=int, default=50)
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("engine_run.py needs root", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="capsa-bench-engine-"))
    netns_name = f"capsa-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns_name], check=True)
    subprocess.run(["ip", "-n", netns_name, "link", "set", "lo", "up"], check=True)
    netns = f"/run/netns/{netns_name}"
    capsa, podman = make_tools(base, netns)
    try:
        bench_run_rm(capsa, podman, options.runs)
        count = options.containers
        ours = bench_fifty(capsa, count, [], lambda: capsa_supervisors(str(base / "capsa")))
        print(f"{count} detached sleep containers (--network none)")
        print(f"  capsa   start {ours[0]:6.2f} s   rm -f {ours[1]:6.2f} s   "
              f"{ours[2] / 1024:5.2f} MB PSS per container (monitors + spawner)")  # fmt: skip
        if podman is not None:
            theirs = bench_fifty(
                podman, count, PODMAN_RUN, lambda: podman_supervisors(str(base / "podman"))
            )
            print(f"  podman  start {theirs[0]:6.2f} s   rm -f {theirs[1]:6.2f} s   "
                  f"{theirs[2] / 1024:5.2f} MB PSS per container (conmon)")  # fmt: skip
            print(f"  ratios  start {ours[0] / theirs[0]:.2f}x   rm -f {ours[1] / theirs[1]:.2f}x"
                  f"   memory {ours[2] / theirs[2]:.2f}x")  # fmt: skip
    finally:
        if podman is not None:
            podman("rm", "-af", check=False)
            podman("system", "reset", "-f", check=False)
        capsa("rm", "-f", *capsa("ps", "-aq").stdout.split(), check=False)
        for pid in capsa_supervisors(str(base / "capsa")) + in_namespace(netns):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        subprocess.run(["ip", "netns", "delete", netns_name], check=False)
        for mount in sorted(mounts_under(str(base)), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with parent_cgroups_removed():
        raise SystemExit(main())
