"""Benchmark: `capsa registry serve` against Debian's docker-registry under the same
client load, side by side in one run, printed as MB/s, requests/s and ratios.

- push and pull of a ~200 MB image (4 layers) with `skopeo copy` (OCI layout ->
  docker:// -> OCI layout); each round gets a new server (new port, empty storage) so
  skopeo's blob-info cache cannot skip an upload;
- many small concurrent requests: GET of a manifest by tag and of a small blob (wrk),
  HEAD of both (an asyncio client: wrk hangs on HEAD answers that carry a length).

    python bench/registry_server.py [--rounds 2] [--size-mb 200] [--seconds 5]

The layers are gzip streams of random bytes: skopeo moves them as they are (no
recompression), so the figures are the registries' and skopeo's, not gzip's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from isal import igzip

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYERS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_layout(root: Path, size: int) -> int:
    """An OCI layout of about `size` bytes of layers; returns the bytes a copy moves."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    # Real gzip streams (of random bytes, stored: gzip level 0), so that skopeo, which
    # sniffs compression, moves them as they are instead of compressing them itself.
    layers = [put(igzip.compress(os.urandom(size * 4 // 5 // LAYERS), 0)) for _ in range(LAYERS)]
    config = put(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [str(layer["digest"]) for layer in layers],
                },
            }
        ).encode()
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}
            for layer in layers
        ],
    }
    top = put(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                **top,
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return sum(int(str(layer["size"])) for layer in layers)


class Registry:
    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.storage = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-", dir=work))
        if kind == "capsa":
            capsa = Path(sys.executable).parent / "capsa"
            command = [
                str(capsa),
                "registry",
                "serve",
                "--addr",
                self.host,
                "--storage",
                str(self.storage),
            ]
        else:
            config = self.storage / "config.yml"
            config.write_text(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                # Debian's default config keeps blob descriptors in memory: so do we.
                "storage:\n  cache:\n    blobdescriptor: inmemory\n"
                f"  filesystem:\n    rootdirectory: {self.storage}/data\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: {self.host}\n"
            )
            command = ["docker-registry", "serve", str(config)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{kind} did not start")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.storage, ignore_errors=True)


def skopeo(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def wrk(url: str, seconds: int, connections: int, accept: str | None = None) -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if accept:
        argv[1:1] = ["-H", f"Accept: {accept}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk got errors from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def _head_load(
    host: str, port: int, path: str, seconds: float, connections: int, accept: str
) -> float:
    request = f"HEAD {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n\r\n".encode()
    count = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal count
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode(errors="replace"))
                count += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return count / (time.perf_counter() - start)


def head_load(registry: Registry, path: str, seconds: float, connections: int) -> float:
    return asyncio.run(
        _head_load("127.0.0.1", registry.port, path, seconds, connections, OCI_MANIFEST)
    )


def one_round(kind: str, layout: Path, work: Path, size: int, seconds: int) -> dict[str, float]:
    registry = Registry(kind, work)
    results: dict[str, float] = {}
    try:
        remote = f"docker://{registry.host}/bench/image:v1"
        results["push MB/s"] = (
            size / 1e6 / skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", remote)
        )
        pulled = Path(tempfile.mkdtemp(prefix="bench-pull-", dir=work))
        try:
            elapsed = skopeo("copy", "--src-tls-verify=false", remote, f"oci:{pulled / 'out'}:v1")
        finally:
            shutil.rmtree(pulled, ignore_errors=True)
        results["pull MB/s"] = size / 1e6 / elapsed
        manifest = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://{registry.host}/v2/bench/image/manifests/v1",
                    headers={"Accept": OCI_MANIFEST},
                )
            ).read()
        )
        config = manifest["config"]["digest"]
        base = f"http://{registry.host}/v2/bench/image"
        results["GET manifest req/s"] = wrk(f"{base}/manifests/v1", seconds, 64, OCI_MANIFEST)
        results["GET blob req/s"] = wrk(f"{base}/blobs/{config}", seconds, 64)
        results["HEAD manifest req/s"] = head_load(
            registry, "/v2/bench/image/manifests/v1", seconds, 32
        )
        results["HEAD blob req/s"] = head_load(
            registry, f"/v2/bench/image/blobs/{config}", seconds, 32
        )
    finally:
        registry.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    options = parser.parse_args()
    for tool in ("skopeo", "docker-registry", "wrk"):
        if shutil.which(tool) is None:
            print(
                f"registry_server: {tool} is not installed (sh scripts/setup.sh)", file=sys.stderr
            )
            return 1
    work = Path(tempfile.mkdtemp(prefix="capsa-bench-registry-"))
    try:
        layout = work / "layout"
        size = make_layout(layout, options.size_mb * 1_000_000)
        runs: dict[str, list[dict[str, float]]] = {"capsa": [], "docker-registry": []}
        for _ in range(options.rounds):
            for kind, samples in runs.items():  # alternate: both see the same load
                samples.append(one_round(kind, layout, work, size, options.seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"registry server, {size / 1e6:.0f} MB image ({LAYERS} layers) with skopeo, "
        f"small requests 64 (GET, wrk) / 32 (HEAD) connections; median of {options.rounds} rounds"
    )
    print(f"{'':22}{'capsa':>12}{'docker-registry':>17}{'ratio':>9}")
    for metric in runs["capsa"][0]:
        ours = statistics.median(r[metric] for r in runs["capsa"])
        theirs = statistics.median(r[metric] for r in runs["docker-registry"])
        print(f"{metric:22}{ours:12.1f}{theirs:17.1f}{ours / theirs:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
