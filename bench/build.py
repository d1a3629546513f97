"""Benchmark: `capsa build` against `podman build` and `buildah bud --layers`, side by side
in one run, on one small Containerfile (FROM busybox + RUN + COPY + ENV + CMD).

    cold   every step runs (`--no-cache`)
    warm   every step is cached (the same build again)

Median of N builds of each, taken in turns so that the load of a shared machine falls on
each alike, after one warm-up build each. Each tool has its own temporary store and the same
busybox image (capsa's default image, saved and loaded into the others); everything runs
inside a network namespace made for the benchmark, RUN with `--network none`. podman and
buildah run runc (crun 1.8 refuses hybrid cgroups) with the cgroupfs manager.
Targets: capsa cold at or below podman's; warm at most a third of podman's.

    python bench/build.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _tools import Tool

CAPSA = str(Path(sys.executable).with_name("capsa"))
PODMAN = shutil.which("podman")
BUILDAH = shutil.which("buildah")
RUNC = shutil.which("runc") or "runc"

CONTAINERFILE = """\
FROM localhost/busybox:latest
RUN echo built > /built.txt
COPY file.txt /app/
ENV GREETING=hi
CMD ["cat", "/app/file.txt"]
"""


class BuildTool(Tool):
    def __init__(self, name: str, argv: list[str], build: list[str], env: dict[str, str]):
        super().__init__(name, argv, env)
        self.build_argv = build  # the build command and the flags every build takes

    def timed_build(self, context: Path, *extra: str) -> float:
        return self.timed(*self.build_argv, *extra, "-t", "localhost/bench:latest", str(context))


def make_tools(base: Path, netns: str) -> list[BuildTool]:
    enter = ["nsenter", f"--net={netns}"]
    capsa = BuildTool(
        "capsa",
        [*enter, CAPSA],
        ["build", "-q", "--network", "none"],
        {**os.environ, "CAPSA_ROOT": str(base / "capsa")},
    )
    capsa("image", "default", "-q")
    archive = base / "busybox.tar"
    capsa("save", "-q", "-o", str(archive), "localhost/busybox:latest")
    tools = [capsa]
    flags = ["--pull=never", "--network", "none", "--layers"]
    if PODMAN is not None:
        storage = ["--root", str(base / "podman"), "--runroot", str(base / "podman-run")]
        podman = BuildTool(
            "podman",
            [*enter, PODMAN, *storage, "--cgroup-manager", "cgroupfs", "--runtime", RUNC],
            ["build", "-q", *flags],
            dict(os.environ),
        )
        podman("load", "-q", "-i", str(archive))
        tools.append(podman)
    if BUILDAH is not None:
        storage = ["--root", str(base / "buildah"), "--runroot", str(base / "buildah-run")]
        buildah = BuildTool(
            "buildah",
            [*enter, BUILDAH, *storage, "--cgroup-manager", "cgroupfs"],
            ["bud", "-q", "--runtime", RUNC, *flags],
            dict(os.environ),
        )
        buildah("pull", "-q", f"docker-archive:{archive}")
        tools.append(buildah)
    return tools


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench(tools: list[BuildTool], context: Path, runs: int) -> dict[tuple[str, str], float]:
    cases = {"cold": ("--no-cache",), "warm": ()}
    samples: dict[tuple[str, str], list[float]] = {
        (case, tool.name): [] for case in cases for tool in tools
    }
    for index in range(runs + 1):
        for case, extra in cases.items():
            for tool in tools:
                elapsed = tool.timed_build(context, *extra)
                if index >= 1:  # one warm-up build each
                    samples[case, tool.name].append(elapsed)
    return {key: median_ms(values) for key, values in samples.items()}


def report(medians: dict[tuple[str, str], float], tools: list[BuildTool], runs: int) -> None:
    print(f"build, FROM busybox + RUN + COPY + ENV + CMD, median of {runs}")
    others = [tool.name for tool in tools if tool.name != "capsa"]
    for case in ("cold", "warm"):
        for tool in tools:
            ours = medians[case, tool.name]
            line = f"{case}  {tool.name:<8}{ours:6.0f} ms"
            if tool.name == "capsa":
                for other in others:
                    line += f"  {ours / medians[case, other]:.2f}x {other}"
            print(line)
    if "podman" in others:
        cold = medians["cold", "capsa"] <= medians["cold", "podman"]
        warm = medians["warm", "capsa"] <= medians["warm", "podman"] / 3
        print(f"targets: cold <= podman {'met' if cold else 'MISSED'}, "
              f"warm <= podman / 3 {'met' if warm else 'MISSED'}")  # fmt: skip


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("build.py needs root", file=sys.stderr)
        return 1
    # podman refuses a runroot path longer than 50 characters: a short base in /tmp.
    base = Path(tempfile.mkdtemp(prefix="capsa-bb-", dir="/tmp"))
    context = base / "context"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE)
    (context / "file.txt").write_text("content\n")
    netns_name = f"capsa-bench-build-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns_name], check=True)
    netns = f"/run/netns/{netns_name}"
    tools: list[BuildTool] = []
    try:
        subprocess.run(["ip", "-n", netns_name, "link", "set", "lo", "up"], check=True)
        tools = make_tools(base, netns)
        report(bench(tools, context, options.runs), tools, options.runs)
    finally:
        for tool in tools:
            if tool.name == "podman":
                tool("system", "reset", "-f", check=False)
            elif tool.name == "buildah":
                tool("rm", "--all", check=False)
                tool("rmi", "--all", "--force", check=False)
        subprocess.run(["ip", "netns", "delete", netns_name], check=False)
        for mount in sorted(mounts_under(str(base)), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
