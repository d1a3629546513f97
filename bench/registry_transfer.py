"""Benchmark: push and pull a ~200 MB image (several gzip layers of random data, made
here) with capsa and with `skopeo copy`, against the same local docker-registry (Debian's
reference server on 127.0.0.1), best of N runs each, printed in MB/s with ratios.

    push   capsa push (from capsa's store)     vs  skopeo copy oci:LAYOUT docker://…
    pull   capsa → OCI layout (library, in a   vs  skopeo copy docker://… oci:DIR
           new process: skopeo's work)
           capsa pull (into an empty store,    vs  podman pull (into an empty store,
           layers unpacked)                        layers unpacked)

Every run gets a fresh registry storage (push) or a fresh destination (pull), so nothing
is skipped as already there.

    python bench/registry_transfer.py [--runs 3] [--layers 4] [--mb 200]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop" / "registry_client"))

import docker_registry  # noqa: E402  (the test helper that runs docker-registry)

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
CAPSA = str(Path(sys.executable).with_name("capsa"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def make_layout(path: Path, layers: int, total_mb: int) -> int:
    """An OCI layout holding one image of `layers` gzip layers, ~total_mb MB in all."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    per_layer = total_mb * 1_000_000 // layers
    descriptors, diff_ids, size = [], [], 0
    for number in range(layers):
        tar_path = path / f"layer{number}.tar"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            data = os.urandom(per_layer)
            info = tarfile.TarInfo(f"data/blob{number}.bin")
            info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data))
        raw = tar_path.read_bytes()
        tar_path.unlink()
        packed = gzip.compress(raw, compresslevel=0, mtime=0)  # stored: as big as the data
        digest = hashlib.sha256(packed).hexdigest()
        (blobs / digest).write_bytes(packed)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descriptors.append(
            {"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{digest}", "size": len(packed)}
        )
        size += len(packed)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    (blobs / config_digest).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    (blobs / manifest_digest).write_bytes(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": f"sha256:{manifest_digest}",
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "v1"},
                    }
                ],
            }
        )
    )
    return size


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}…: {result.stderr.strip()[-400:]}")
    return elapsed


COPY_TO_LAYOUT = """
import sys
from capsa.oci.reference import parse_reference
from capsa.transport.copy import copy_image
from capsa.transport.oci_layout.dest import LayoutDestination
from capsa.transport.registry.source import RegistrySource
src = RegistrySource(parse_reference(sys.argv[1]))
dst = LayoutDestination(sys.argv[2], "v1", "oci:" + sys.argv[2])
copy_image(src, dst, jobs=src.options.jobs)
dst.close(); src.close()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--mb", type=int, default=200)
    options = parser.parse_args()
    if SKOPEO is None or docker_registry.DOCKER_REGISTRY is None:
        print("registry_transfer: needs skopeo and docker-registry (scripts/setup.sh)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="capsa-bench-registry-"))
    env = {**os.environ, "CAPSA_CONFIG_DIR": str(work / "config"), "HOME": str(work / "home")}
    try:
        layout = work / "layout"
        size = make_layout(layout, options.layers, options.mb)
        megabytes = size / 1e6
        store = work / "store"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\n"
                "from capsa.store.store import Store\n"
                "from capsa.transport.copy import copy_image\n"
                "from capsa.transport.open import reading\n"
                "from capsa.transport.store.dest import StoreDestination\n"
                "s = Store(sys.argv[1]); d = StoreDestination(s, 'localhost/bench:v1')\n"
                "with reading('oci:' + sys.argv[2] + ':v1') as src: copy_image(src, d)\n"
                "d.close(); s.close()",
                str(store / "storage"),
                str(layout),
            ],
            check=True,
            env=env,
        )
        print(f"image: {options.layers} gzip layers, {megabytes:.0f} MB; best of {options.runs}")
        results: dict[str, float] = {}

        def best(name: str, run: object) -> None:
            samples = [run() for _ in range(options.runs)]  # type: ignore[operator]
            results[name] = megabytes / min(samples)

        def push_skopeo() -> float:
            with docker_registry.running() as registry:
                return timed(
                    [
                        SKOPEO,
                        "--insecure-policy",
                        "copy",
                        "-q",
                        "--dest-tls-verify=false",
                        f"oci:{layout}:v1",
                        f"docker://{registry.host}/bench/img:v1",
                    ]
                )

        def push_capsa() -> float:
            with docker_registry.running() as registry:
                return timed(
                    [
                        CAPSA,
                        "--root",
                        str(store),
                        "push",
                        "-q",
                        "localhost/bench:v1",
                        f"{registry.host}/bench/img:v1",
                    ],
                    env,
                )

        best("push skopeo", push_skopeo)
        best("push capsa", push_capsa)
        with docker_registry.running() as registry:
            timed(
                [
                    SKOPEO,
                    "--insecure-policy",
                    "copy",
                    "-q",
                    "--dest-tls-verify=false",
                    f"oci:{layout}:v1",
                    f"docker://{registry.host}/bench/img:v1",
                ]
            )
            image = f"{registry.host}/bench/img:v1"
            counter = iter(range(1_000_000))

            def fresh() -> Path:
                target = work / f"out{next(counter)}"
                return target

            def pull_skopeo() -> float:
                target = fresh()
                try:
                    return timed(
                        [
                            SKOPEO,
                            "--insecure-policy",
                            "copy",
                            "-q",
                            "--src-tls-verify=false",
                            f"docker://{image}",
                            f"oci:{target}:v1",
                        ]
                    )
                finally:
                    shutil.rmtree(target, ignore_errors=True)

            def pull_capsa_layout() -> float:
                target = fresh()
                try:
                    return timed([sys.executable, "-c", COPY_TO_LAYOUT, image, str(target)], env)
                finally:
                    shutil.rmtree(target, ignore_errors=True)

            def pull_capsa_store() -> float:
                target = fresh()
                try:  # an empty store made first: its one-time setup is not the pull's
                    timed([CAPSA, "--root", str(target), "images", "-q"], env)
                    return timed([CAPSA, "--root", str(target), "pull", "-q", image], env)
                finally:
                    shutil.rmtree(target, ignore_errors=True)

            def pull_podman() -> float:
                target = fresh()
                podman = [
                    PODMAN or "podman",
                    "--root",
                    str(target / "root"),
                    "--runroot",
                    str(target / "run"),
                    "--storage-driver",
                    "overlay",
                ]
                try:
                    timed([*podman, "images", "-q"])
                    return timed([*podman, "pull", "-q", "--tls-verify=false", image])
                finally:
                    subprocess.run(
                        [*podman, "system", "reset", "-f"], capture_output=True, check=False
                    )
                    shutil.rmtree(target, ignore_errors=True)

            best("pull skopeo (to an OCI layout)", pull_skopeo)
            best("pull capsa (to an OCI layout)", pull_capsa_layout)
            if PODMAN is not None:
                best("pull podman (into its store)", pull_podman)
            best("pull capsa (into its store)", pull_capsa_store)
        width = max(len(name) for name in results)
        for name, rate in results.items():
            print(f"  {name.ljust(width)}  {rate:7.0f} MB/s")
        print(f"  push: capsa/skopeo = {results['push capsa'] / results['push skopeo']:.2f}")
        layout_ratio = (
            results["pull capsa (to an OCI layout)"] / results["pull skopeo (to an OCI layout)"]
        )
        print(f"  pull to a layout: capsa/skopeo = {layout_ratio:.2f}")
        if "pull podman (into its store)" in results:
            store_ratio = (
                results["pull capsa (into its store)"] / results["pull podman (into its store)"]
            )
            print(f"  pull into a store: capsa/podman = {store_ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
