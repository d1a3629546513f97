"""Benchmark: unpacking a 200 MB gzip layer, capsa against `umoci unpack`, and loading an
archive of it, `capsa load` against `podman load`, on the same data in the same run,
printed as throughput (MB of uncompressed layer per second) and ratios.

The layer is made here, reproducibly: a directory tree of files whose sizes mix as in a
distribution image (many small files, some of hundreds of kB, a few of megabytes), with
symlinks and hard links, whose bytes compress about 2x (part text, part random).

    python bench/image_unpack.py [--size-mb 200] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable

MB = 1_000_000
WORDS = tuple(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "it",
        "as",
        "with",
        "was",
        "on",
        "be",
        "by",
        "this",
        "are",
        "or",
        "from",
        "at",
        "an",
        "not",
        "config",
        "library",
        "error",
        "value",
        "return",
        "static",
        "const",
        "void",
        "int",
        "char",
        "struct",
        "include",
        "define",
        "usr",
        "lib",
        "share",
        "bin",
        "etc",
        "local",
        "python",
        "debian",
        "package",
        "version",
        "license",
        "copyright",
    ]
)


# -- the data ---------------------------------------------------------------------------------


def _pool(rng: random.Random, size: int) -> bytes:
    """Bytes to cut files from: two thirds text (compresses well), a third random."""
    text = " ".join(rng.choice(WORDS) for _ in range(size // 5)).encode()[: size * 2 // 3]
    return text + rng.randbytes(size - len(text))


def _file_size(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.90:
        return rng.randint(100, 16_000)  # configs, scripts, headers, small modules
    if kind < 0.998:
        return rng.randint(16_000, 200_000)  # libraries, binaries
    return rng.randint(500_000, 10_000_000)  # a few big libraries and data files


def make_layer_tar(path: str, total: int, seed: int = 1) -> tuple[int, int]:
    """A tar of about `total` bytes of file data; returns (tar size, entries)."""
    rng = random.Random(seed)
    pool = _pool(rng, 32 * MB)
    written = 0
    entries = 0
    directories: list[str] = []
    files: list[str] = []
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str) -> None:
            nonlocal entries
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tar.addfile(info)
            directories.append(name)
            entries += 1

        for top in ("usr", "usr/lib", "usr/share", "usr/bin", "etc", "var", "opt"):
            add_dir(top)
        current = "usr"
        while written < total:
            # in directory order, as image builders write layers: a directory, its files
            if rng.random() < 0.08:
                add_dir(f"{rng.choice(directories)}/d{len(directories)}")
                current = directories[-1]
                continue
            size = min(_file_size(rng), total - written) or 1
            name = f"{current}/f{entries}"
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, rng.choice((0o644, 0o755)), 1_700_000_000
            start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
            tar.addfile(info, io.BytesIO(pool[start : start + size]))
            files.append(name)
            written += size
            entries += 1
            if rng.random() < 0.03:
                link = tarfile.TarInfo(f"{name}.link")
                link.type, link.linkname = tarfile.SYMTYPE, os.path.basename(name)
                tar.addfile(link)
                entries += 1
            elif rng.random() < 0.01:
                hard = tarfile.TarInfo(f"{name}.hard")
                hard.type, hard.linkname = tarfile.LNKTYPE, name
                tar.addfile(hard)
                entries += 1
    return os.path.getsize(path), entries


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def make_layout(workdir: str, size: int) -> dict[str, object]:
    """An OCI layout (tag `bench`) with one image of one gzip layer."""
    layout = os.path.join(workdir, "layout")
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)
    plain = os.path.join(workdir, "layer.tar")
    tar_size, entries = make_layer_tar(plain, size)
    diff_id = sha256_file(plain)
    packed = os.path.join(workdir, "layer.tar.gz")
    with open(plain, "rb") as source, gzip.GzipFile(packed, "wb", compresslevel=6, mtime=0) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    os.unlink(plain)
    layer_digest = sha256_file(packed)
    layer_size = os.path.getsize(packed)
    os.rename(packed, os.path.join(blobs, layer_digest))

    def blob(document: dict[str, object]) -> tuple[str, int]:
        data = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as file:
            file.write(data)
        return digest, len(data)

    config_digest, config_size = blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        }
    )
    manifest_digest, manifest_size = blob(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{layer_digest}",
                    "size": layer_size,
                }
            ],
        }
    )
    with open(os.path.join(layout, "oci-layout"), "w") as file:
        json.dump({"imageLayoutVersion": "1.0.0"}, file)
    with open(os.path.join(layout, "index.json"), "w") as file:
        json.dump(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": f"sha256:{manifest_digest}",
                        "size": manifest_size,
                        "annotations": {"org.opencontainers.image.ref.name": "bench"},
                    }
                ],
            },
            file,
        )
    return {
        "layout": layout,
        "layer": os.path.join(blobs, layer_digest),
        "layer_digest": f"sha256:{layer_digest}",
        "diff_id": f"sha256:{diff_id}",
        "tar_size": tar_size,
        "gz_size": layer_size,
        "entries": entries,
    }


# -- the contenders -----------------------------------------------------------------------


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}: {done.stderr.strip()[-300:]}")


def capsa_unpack(data: dict[str, object], scratch: str) -> float:
    """The store's unpack of the layer blob into a fresh snapshot: read and verify the
    blob, inflate, apply, check the DiffID, commit (as `capsa load` does per layer)."""
    from capsa.store.store import Store

    root = tempfile.mkdtemp(dir=scratch)
    try:
        with Store(root) as store:
            lease = store.lease()
            with open(str(data["layer"]), "rb") as blob:
                store.write_blob(blob, lease=lease, expected=str(data["layer_digest"]))
            seconds = timed(
                lambda: store.unpack(
                    str(data["layer_digest"]), lease=lease, diff_id=str(data["diff_id"])
                )
            )
            lease.release()
        return seconds
    finally:
        _remove(root)


def umoci_unpack(data: dict[str, object], scratch: str) -> float:
    bundle = os.path.join(tempfile.mkdtemp(dir=scratch), "bundle")
    try:
        return timed(lambda: run(["umoci", "unpack", "--image", f"{data['layout']}:bench", bundle]))
    finally:
        _remove(os.path.dirname(bundle))


def capsa_load(archive: str, scratch: str) -> float:
    root = tempfile.mkdtemp(dir=scratch)
    capsa = os.path.join(os.path.dirname(sys.executable), "capsa")
    try:
        return timed(lambda: run([capsa, "--root", root, "load", "-q", "-i", archive]))
    finally:
        _remove(root)


def podman_load(archive: str, where: str) -> float:
    # podman refuses a runroot path longer than 50 characters: right under `where`
    base = tempfile.mkdtemp(prefix="capsa-bpm-", dir=where)
    storage = ["--root", f"{base}/s", "--runroot", f"{base}/r", "--cgroup-manager", "cgroupfs"]
    try:
        return timed(lambda: run(["podman", *storage, "load", "-q", "-i", archive]))
    finally:
        subprocess.run(
            ["podman", *storage, "system", "reset", "-f"], capture_output=True, check=False
        )
        _remove(base)


def _remove(path: str) -> None:
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)


def make_archive(data: dict[str, object], workdir: str) -> str:
    from capsa.transport.copy import copy_image
    from capsa.transport.open import reading, writing

    archive = os.path.join(workdir, "image.tar")
    with (
        reading(f"oci:{data['layout']}:bench") as src,
        writing(f"docker-archive:{archive}:bench/layer:1") as dst,
    ):
        copy_image(src, dst)
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="a directory to keep the generated data in (reused)")
    parser.add_argument(
        "--dir",
        default="/var/tmp",
        help="where to unpack (default /var/tmp, on disk; /dev/shm measures the tools "
        "without the file system's cost of creating files)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("image_unpack: needs root (umoci and podman unpack as root)", file=sys.stderr)
        return 1
    workdir = args.keep or tempfile.mkdtemp(prefix="capsa-bench-unpack-", dir=args.dir)
    scratch = tempfile.mkdtemp(prefix="capsa-bench-scratch-", dir=args.dir)
    try:
        meta = os.path.join(workdir, "data.json")
        if os.path.exists(meta):
            with open(meta) as file:
                data = json.load(file)
        else:
            print(f"making a {args.size_mb} MB layer ...", file=sys.stderr)
            data = make_layout(workdir, args.size_mb * MB)
            data["archive"] = make_archive(data, workdir)
            with open(meta, "w") as file:
                json.dump(data, file)
        size = int(data["tar_size"]) / MB
        print(
            f"layer: {size:.0f} MB tar, {int(data['gz_size']) / MB:.0f} MB gzip, "
            f"{data['entries']} entries; unpacked under {args.dir}; median of {args.runs} runs"
        )
        contenders: dict[str, Callable[[], float] | None] = {
            "capsa unpack": lambda: capsa_unpack(data, scratch),
            "umoci unpack": (
                (lambda: umoci_unpack(data, scratch)) if shutil.which("umoci") else None
            ),
            "capsa load": lambda: capsa_load(str(data["archive"]), scratch),
            "podman load": (
                (lambda: podman_load(str(data["archive"]), args.dir))
                if shutil.which("podman")
                else None
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.runs):  # interleaved: the machine's load hits each alike
            for name, contender in contenders.items():
                if contender is not None:
                    samples[name].append(contender())
        medians = {name: statistics.median(s) for name, s in samples.items() if s}
        for name in contenders:
            if name not in medians:
                print(f"{name:<14} not installed")
                continue
            seconds = medians[name]
            line = f"{name:<14} {seconds:6.2f} s  {size / seconds:7.1f} MB/s"
            other = {"capsa unpack": "umoci unpack", "capsa load": "podman load"}.get(name)
            if other in medians:
                line += f"   {medians[other] / seconds:.2f}x {other.split()[0]}'s throughput"
            print(line)
    finally:
        _remove(scratch)
        if not args.keep:
            _remove(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
