"""`capsa build` against `podman build` (Debian's podman 4.3, buildah 1.28 inside): the
same Containerfile gives the same files, modes, owners and config; the image capsa built
runs under podman once saved and loaded. Root only (tests/interop/conftest.py).

Everything runs inside a network namespace made here (no bridge on the host); podman has a
private storage, runs runc (crun 1.8 refuses hybrid cgroups) with cgroupfs, and the
ulimits this machine allows. All of it goes at the end, whatever happened."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CAPSA = str(Path(sys.executable).with_name("capsa"))
PODMAN = shutil.which("podman")
RUNC = shutil.which("runc")

pytestmark = pytest.mark.skipif(
    PODMAN is None or RUNC is None, reason="podman and runc are not installed"
)

CMD = "id -u; id -g; pwd; echo $APP_HOME; cat /srv/app/owned.txt /opt/x.txt /opt/d/y"
CONTAINERFILE = f"""\
FROM localhost/busybox:latest AS builder
RUN mkdir -p /out/sub && echo built-in-builder > /out/result.txt && chmod 0750 /out \\
 && chown 123:456 /out/sub && chown 1000:1000 /out/result.txt && chmod 0600 /out/result.txt

FROM localhost/busybox:latest
LABEL org.example.title="interop" org.example.multi="a b"
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
RUN mkdir -p /srv/app/bin /data && echo hello > /data/greeting && chmod 0700 /data \\
 && chown 1000:1000 /data/greeting && rm /etc/group
COPY file.txt /srv/app/
COPY dir /srv/app/dir
COPY --chown=1000:1000 owned.txt /srv/app/owned.txt
COPY --chmod=0755 file.txt /srv/app/bin/run.sh
ADD files.tar.gz /opt/
COPY --from=builder /out /from-builder
WORKDIR $APP_HOME/work
USER 1000:1000
EXPOSE 8080 53/udp
RUN touch /tmp/as-user && mkdir /tmp/as-user-dir
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["{CMD}"]
"""

EXPECTED_OUTPUT = "1000\n1000\n/srv/app/work\n/srv/app\nowned\nin the archive\ny\n"


def write_context(context: Path) -> None:
    """The build context, every mode set (not left to the umask)."""
    (context / "dir" / "sub").mkdir(parents=True)
    files = {
        "Containerfile": (CONTAINERFILE, 0o644),
        "file.txt": ("a file\n", 0o640),
        "owned.txt": ("owned\n", 0o644),
        "dir/a.txt": ("a\n", 0o644),
        "dir/sub/s.txt": ("s\n", 0o600),
    }
    for name, (text, mode) in files.items():
        (context / name).write_text(text)
        (context / name).chmod(mode)
    (context / "dir").chmod(0o750)
    (context / "dir" / "link").symlink_to("a.txt")
    inner = context.parent / "archive"
    (inner / "d").mkdir(parents=True)
    (inner / "x.txt").write_text("in the archive\n")
    (inner / "d" / "y").write_text("y\n")
    archive = str(context / "files.tar.gz")
    owners = ["--owner=42", "--group=43"]
    subprocess.run(["tar", "czf", archive, *owners, "-C", str(inner), "x.txt", "d"], check=True)


# -- an image's file tree, from a docker-archive ----------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: str  # file, dir, link (symbolic), ...
    mode: int  # permission bits only
    uid: int
    gid: int
    data: str  # a file's content digest, a link's target


def _path(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return "/" if name in ("", ".") else "/" + name


def _kind(member: tarfile.TarInfo) -> str:
    if member.isfile() or member.islnk():
        return "file"  # a hard link is a file with its target's contents
    if member.isdir():
        return "dir"
    if member.issym():
        return "link"
    return {tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}.get(
        member.type, member.type.decode()
    )


def flatten(archive: Path) -> tuple[dict[str, Entry], dict[str, Any]]:
    """The tree an image's layers make, applied in order with their whiteouts (the
    image-spec's rules), and the image config."""
    tree: dict[str, Entry] = {}

    def drop(path: str, *, itself: bool) -> None:
        for name in [n for n in tree if n.startswith(path.rstrip("/") + "/")]:
            del tree[name]
        if itself:
            tree.pop(path, None)

    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        for layer_name in manifest[0]["Layers"]:
            data = outer.extractfile(layer_name).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                members = layer.getmembers()
                # An opaque directory hides what lower layers had in it, not its own layer's.
                for member in members:
                    directory, _, base = _path(member.name).rpartition("/")
                    if base == ".wh..wh..opq":
                        drop(directory or "/", itself=False)
                for member in members:
                    path = _path(member.name)
                    directory, _, base = path.rpartition("/")
                    if base == ".wh..wh..opq":
                        continue
                    if base.startswith(".wh."):
                        drop(f"{directory}/{base[4:]}", itself=True)
                        continue
                    if not member.isdir():
                        drop(path, itself=False)
                    if member.isfile():
                        content = layer.extractfile(member).read()  # type: ignore[union-attr]
                        extra = hashlib.sha256(content).hexdigest()
                    elif member.islnk():
                        extra = tree[_path(member.linkname)].data
                    elif member.issym():
                        extra = member.linkname
                    else:
                        extra = ""
                    tree[path] = Entry(
                        _kind(member), member.mode & 0o7777, member.uid, member.gid, extra
                    )
    return tree, config


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the two builds -----------------------------------------------------------------------


class Tool:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.argv, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{self.argv[2:]} {args}: {done.stderr}"
        return done.stdout


@dataclass
class Builds:
    base: Path
    capsa: Tool
    podman: Tool
    capsa_archive: Path
    podman_archive: Path


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


@pytest.fixture(scope="module")
def builds() -> Iterator[Builds]:
    # podman refuses a runroot path longer than 50 characters: a short base in /tmp.
    base = Path(tempfile.mkdtemp(prefix="capsa-bi-", dir="/tmp"))
    netns = f"capsa-bi-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    enter = ["nsenter", f"--net=/run/netns/{netns}"]
    storage = ["--root", str(base / "storage"), "--runroot", str(base / "run")]
    podman_argv = [*enter, PODMAN or "podman", *storage, "--cgroup-manager", "cgroupfs"]
    podman = Tool([*podman_argv, "--runtime", RUNC or "runc"], dict(os.environ))
    capsa = Tool([*enter, CAPSA], {**os.environ, "CAPSA_ROOT": str(base / "capsa")})
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        context = base / "context"
        context.mkdir()
        write_context(context)
        capsa("image", "default", "-q")
        capsa("save", "-q", "-o", str(base / "busybox.tar"), "localhost/busybox:latest")
        podman("load", "-q", "-i", str(base / "busybox.tar"))
        capsa("build", "-q", "--network", "none", "-t", "localhost/interop:capsa", str(context))
        podman(
            "build", "-q", "--layers", "--no-cache", "--pull=never", "--network", "none",
            "-t", "localhost/interop:podman", str(context),
        )  # fmt: skip
        builds = Builds(base, capsa, podman, base / "capsa.tar", base / "podman.tar")
        capsa("save", "-q", "-o", str(builds.capsa_archive), "localhost/interop:capsa")
        podman("save", "-q", "-o", str(builds.podman_archive), "localhost/interop:podman")
        yield builds
    finally:
        for cleanup in (["rm", "-af"], ["rmi", "-af"], ["system", "reset", "-f"]):
            subprocess.run([*podman_argv, *cleanup], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", netns], check=False)
        for mount in sorted(_mounts_under(str(base)), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


# Where the two differ by design, each difference named with its reason. Anything else
# that differs fails the test.
KNOWN_TREE_DIFFERENCES: dict[str, tuple[Entry | None, Entry | None]] = {
    # buildah leaves the empty /etc/hostname it bind-mounts for RUN (0755 by its umask);
    # capsa, like BuildKit, leaves no trace of RUN's mount points in the image.
    "/etc/hostname": (None, Entry("file", 0o755, 0, 0, digest_of(""))),
    # A directory that COPY copies gives its contents, and the destination it creates
    # takes the source directory's mode: BuildKit does so (fsutil's copy applies the
    # source's file info to a directory it creates), and so does capsa. buildah, like the
    # classic builder, makes the destination 0755 (openshift/imagebuilder#216).
    "/from-builder": (Entry("dir", 0o750, 0, 0, ""), Entry("dir", 0o755, 0, 0, "")),
    "/srv/app/dir": (Entry("dir", 0o750, 0, 0, ""), Entry("dir", 0o755, 0, 0, "")),
    # WORKDIR: capsa (as BuildKit) makes the directory at once, as the USER of that
    # moment (root here); buildah makes it at the next RUN, as the USER by then.
    "/srv/app/work": (Entry("dir", 0o755, 0, 0, ""), Entry("dir", 0o755, 1000, 1000, "")),
}


def test_same_files_modes_owners_and_contents(builds: Builds) -> None:
    ours, _ = flatten(builds.capsa_archive)
    theirs, _ = flatten(builds.podman_archive)
    differences = {
        path: (ours.get(path), theirs.get(path))
        for path in sorted(set(ours) | set(theirs))
        if ours.get(path) != theirs.get(path)
    }
    assert differences == KNOWN_TREE_DIFFERENCES
    # And the tree is the one the Containerfile asks for (both agree on all of this).
    expected = {
        "/data": Entry("dir", 0o700, 0, 0, ""),
        "/data/greeting": Entry("file", 0o644, 1000, 1000, digest_of("hello\n")),
        "/srv/app/file.txt": Entry("file", 0o640, 0, 0, digest_of("a file\n")),
        "/srv/app/bin/run.sh": Entry("file", 0o755, 0, 0, digest_of("a file\n")),
        "/srv/app/owned.txt": Entry("file", 0o644, 1000, 1000, digest_of("owned\n")),
        "/srv/app/dir/sub/s.txt": Entry("file", 0o600, 0, 0, digest_of("s\n")),
        "/srv/app/dir/link": Entry("link", 0o777, 0, 0, "a.txt"),
        # ADD keeps the owners the archive gives.
        "/opt/x.txt": Entry("file", 0o644, 42, 43, digest_of("in the archive\n")),
        "/opt/d/y": Entry("file", 0o644, 42, 43, digest_of("y\n")),
        # COPY --from keeps the owners the stage gave.
        "/from-builder/result.txt": Entry(
            "file", 0o600, 1000, 1000, digest_of("built-in-builder\n")
        ),
        "/from-builder/sub": Entry("dir", 0o755, 123, 456, ""),
        "/tmp/as-user": Entry("file", 0o644, 1000, 1000, digest_of("")),
        "/tmp/as-user-dir": Entry("dir", 0o755, 1000, 1000, ""),
    }
    assert {path: ours.get(path) for path in expected} == expected
    assert "/etc/group" not in ours and "/etc/passwd" in ours  # RUN's rm: a whiteout
    assert ours["/bin/busybox"].kind == "file" and ours["/bin/sh"] == theirs["/bin/sh"]


def test_same_config(builds: Builds) -> None:
    _, ours_image = flatten(builds.capsa_archive)
    _, theirs_image = flatten(builds.podman_archive)
    ours, theirs = dict(ours_image["config"]), dict(theirs_image["config"])
    # buildah labels what it builds with its version.
    assert theirs["Labels"].pop("io.buildah.version")
    # ENV of a variable the image has already: capsa replaces it in place, as Docker and
    # BuildKit do; buildah moves it to the end. The same variables, the same values.
    ours_env, theirs_env = ours.pop("Env"), theirs.pop("Env")
    assert ours_env[0].startswith("PATH=/srv/app/bin:")
    assert dict(e.split("=", 1) for e in ours_env) == dict(e.split("=", 1) for e in theirs_env)
    assert len(ours_env) == len(theirs_env) == 2
    assert ours == theirs
    assert ours == {
        "Cmd": [CMD],
        "Entrypoint": ["/bin/sh", "-c"],
        "ExposedPorts": {"53/udp": {}, "8080/tcp": {}},
        "Labels": {"org.example.multi": "a b", "org.example.title": "interop"},
        "User": "1000:1000",
        "WorkingDir": "/srv/app/work",
    }
    for image in (ours_image, theirs_image):
        assert (image["os"], image["architecture"]) == ("linux", "amd64")
        assert len(image["rootfs"]["diff_ids"]) == len(
            [h for h in image["history"] if not h.get("empty_layer")]
        )


def test_the_image_capsa_built_runs_under_podman(builds: Builds) -> None:
    # capsa save writes to a file (-o), which podman loads.
    podman = builds.podman
    archive = builds.base / "to-podman.tar"
    builds.capsa("save", "-q", "-o", str(archive), "localhost/interop:capsa")
    loaded = podman("load", "-i", str(archive))
    assert "localhost/interop:capsa" in loaded
    out = podman(
        "run", "--rm", "--network", "none",
        # No CAP_SYS_RESOURCE here: keep podman's defaults under the hard limits.
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "localhost/interop:capsa",
    )  # fmt: skip
    assert out == EXPECTED_OUTPUT
    # podman's own build says the same.
    out = podman(
        "run", "--rm", "--network", "none",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "localhost/interop:podman",
    )  # fmt: skip
    assert out == EXPECTED_OUTPUT
