"""`capsa build` end to end: real Containerfiles on the busybox image, RUN in real
containers, the layer cache, multi-stage builds, secrets, and what a build leaves
behind (nothing) when it fails or is interrupted."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from e2e_harness import Capsa

BASE = "localhost/busybox"


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def build(capsa: Capsa, context: Path, *args: str, code: int | None = 0) -> tuple[str, str]:
    done = capsa("build", *args, str(context), code=code)
    return done.stdout.strip(), done.stderr


def leftovers(capsa: Capsa) -> list[str]:
    """What a build must not leave: its work directories, mounts, runtime state."""
    found = []
    work = capsa.root / "storage" / "build"
    if work.exists():
        found += [str(p) for p in work.iterdir()]
    with open("/proc/self/mountinfo") as f:
        found += [line.split()[4] for line in f if "/storage/build/" in line.split()[4]]
    for base in ("/sys/fs/cgroup/memory/capsa", "/sys/fs/cgroup/pids/capsa"):
        if os.path.isdir(base):
            found += [os.path.join(base, n) for n in os.listdir(base) if n.startswith("build-")]
    return found


def image_layers(capsa: Capsa, image: str) -> list[dict[str, tarfile.TarInfo]]:
    """Each layer of `image` (from `capsa save`) as name -> member."""
    archive = capsa.root.parent / "saved.tar"
    capsa("save", "-o", str(archive), image)
    layers = []
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest[0]["Layers"]:
            data = outer.extractfile(name).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                layers.append({m.name: m for m in layer.getmembers()})
    archive.unlink()
    return layers


SIMPLE = f"""FROM {BASE}
RUN echo built > /built.txt
COPY file.txt /app/
ENV GREETING=hi
CMD ["cat", "/app/file.txt"]
"""


def test_build_runs_and_a_second_build_is_all_cached(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    image_id, log = build(capsa, context, "-t", "demo")
    assert image_id.startswith("sha256:")
    assert "[stage-0 2/5] RUN echo built > /built.txt" in log
    assert capsa("run", "--rm", "demo").stdout == "content\n"
    out = capsa("run", "--rm", "demo", "sh", "-c", "cat /built.txt; echo $GREETING").stdout
    assert out == "built\nhi\n"
    again, log = build(capsa, context, "-t", "demo")
    assert again == image_id
    assert log.count("Using cache") == 2
    history = capsa("history", "--no-trunc", "--format", "{{.CreatedBy}}", "demo").stdout
    assert "RUN /bin/sh -c echo built > /built.txt" in history
    assert "COPY file.txt /app/" in history
    config = json.loads(capsa("image", "inspect", "demo").stdout)[0]["Config"]
    assert config["Cmd"] == ["cat", "/app/file.txt"]
    assert "GREETING=hi" in config["Env"]
    assert leftovers(capsa) == []


def test_a_changed_file_invalidates_its_step_and_later_ones_only(
    capsa: Capsa, tmp_path: Path
) -> None:
    dockerfile = f"""FROM {BASE}
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "first\n"})
    build(capsa, context, "-t", "inval")
    (context / "a.txt").write_text("second\n")
    _, log = build(capsa, context, "-t", "inval")
    steps = log.split("[stage-0 ")
    assert "Using cache" in steps[2]  # RUN echo one
    assert "Using cache" not in steps[3] and "Using cache" not in steps[4]
    assert capsa("run", "--rm", "inval", "cat", "/copy").stdout == "second\n"
    _, log = build(capsa, context, "--no-cache", "-t", "inval")
    assert "Using cache" not in log


def test_multi_stage_builds_only_what_the_target_needs(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f"""ARG BASE={BASE}
FROM $BASE AS builder
ARG MSG=default
WORKDIR /src
RUN echo "msg=$MSG" > out.txt

FROM $BASE AS broken
RUN exit 3

FROM ${{BASE}}
COPY --from=builder /src/out.txt /out.txt
CMD ["cat", "/out.txt"]
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    _, log = build(capsa, context, "-t", "multi", "--build-arg", "MSG=given")
    assert "exit 3" not in log
    assert capsa("run", "--rm", "multi").stdout == "msg=given\n"
    _, log = build(capsa, context, "-t", "only-builder", "--target", "builder")
    assert "COPY --from" not in log
    assert capsa("run", "--rm", "only-builder", "cat", "/src/out.txt").stdout == "msg=default\n"
    done = capsa("build", "--target", "broken", str(context), code=1)
    assert "Dockerfile:8: RUN 'exit 3' exited with status 3" in done.stderr
    done = capsa("build", "--target", "nosuch", str(context), code=125)
    assert "no stage of that name" in done.stderr


def test_secrets_reach_run_and_never_the_image(capsa: Capsa, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    dockerfile = f"""FROM {BASE}
RUN --mount=type=secret,id=token grep -q ^s3cr3t /run/secrets/token && touch /ok
RUN --mount=type=secret,id=token,env=TOKEN test "${{#TOKEN}}" = 12
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    build(capsa, context, "-t", "secret", "--secret", f"id=token,src={secret}")
    layers = image_layers(capsa, "secret")
    assert len(layers) == 2  # the second RUN changed nothing: no layer, as BuildKit
    assert set(layers[1]) == {"ok"}, layers[1].keys()
    history = capsa("history", "--no-trunc", "secret").stdout
    assert "s3cr3t-value" not in history
    inspect = capsa("image", "inspect", "secret").stdout
    assert "s3cr3t-value" not in inspect
    done = capsa("build", "--no-cache", str(context), code=1)  # no secret: no file
    assert "exited with status" in done.stderr


def test_a_failing_run_points_at_its_line_and_leaves_nothing(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f"""FROM {BASE}
RUN echo fine
RUN echo about to fail; exit 7
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    done = capsa("build", "-t", "fails", str(context), code=1)
    assert "about to fail" in done.stderr
    assert "Dockerfile:3: RUN 'echo about to fail; exit 7' exited with status 7" in done.stderr
    assert leftovers(capsa) == []
    assert capsa("images", "-q", "fails").stdout == ""


def test_an_interrupted_build_leaves_nothing(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f"""FROM {BASE}
RUN echo started && sleep 60
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    process = capsa.popen("build", str(context), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    seen = b""
    while b"started" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read1(4096)  # type: ignore[attr-defined]
    assert b"started" in seen
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)
    assert process.returncode != 0
    assert leftovers(capsa) == []


def test_deletions_become_whiteouts(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f"""FROM {BASE}
RUN rm -rf /tmp /etc/passwd && mkdir /tmp
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    build(capsa, context, "-t", "wh")
    layer = image_layers(capsa, "wh")[-1]
    assert "etc/.wh.passwd" in layer
    assert "tmp/.wh..wh..opq" in layer or "tmp" in layer
    assert capsa("run", "--rm", "wh", "ls", "/etc/passwd", code=1).returncode == 1


def test_reproducible_with_source_date_epoch(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    args = ("--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000")
    first, _ = build(capsa, context, *args)
    time.sleep(1.1)
    second, _ = build(capsa, context, *args)
    assert first == second
    created = json.loads(capsa("image", "inspect", first).stdout)[0]["Created"]
    assert created.startswith("2023-11-14T22:13:20")


def test_context_rules_heredocs_and_add(capsa: Capsa, tmp_path: Path) -> None:
    archive = tmp_path / "files.tar.gz"
    inner = tmp_path / "inner"
    write(inner, {"x.txt": "in the archive\n"})
    subprocess.run(["tar", "czf", str(archive), "-C", str(inner), "x.txt"], check=True)
    dockerfile = f"""FROM {BASE}
COPY . /ctx/
ADD files.tar.gz /opt/
COPY --chmod=0600 --chown=1000:1000 a.txt /owned/
COPY <<EOT /etc/motd
hello $WHO
EOT
ARG WHO=world
RUN <<EOF
echo from heredoc > /here
EOF
"""
    context = write(
        tmp_path / "ctx",
        {"Dockerfile": dockerfile, "a.txt": "a\n", "skip.log": "x", ".dockerignore": "*.log\n"},
    )
    (context / "files.tar.gz").write_bytes(archive.read_bytes())
    build(capsa, context, "-t", "ctx")
    listing = capsa("run", "--rm", "ctx", "ls", "/ctx").stdout.split()
    assert "a.txt" in listing and "skip.log" not in listing
    out = capsa(
        "run", "--rm", "ctx", "sh", "-c", "cat /opt/x.txt /here; stat -c '%a %u:%g' /owned/a.txt"
    )
    assert out.stdout == "in the archive\nfrom heredoc\n600 1000:1000\n"
    assert capsa("run", "--rm", "ctx", "cat", "/etc/motd").stdout == "hello \n"


def test_context_from_stdin_and_tarball(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f'FROM {BASE}\nCMD ["echo", "from stdin"]\n'
    done = capsa("build", "-t", "stdin", "-", input=dockerfile.encode())
    assert done.stdout.startswith("sha256:")
    assert capsa("run", "--rm", "stdin").stdout == "from stdin\n"
    context = write(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nCOPY f /f\n", "f": "tar\n"})
    tarball = tmp_path / "ctx.tar"
    subprocess.run(["tar", "cf", str(tarball), "-C", str(context), "."], check=True)
    capsa("build", "-t", "fromtar", "-", input=tarball.read_bytes())
    assert capsa("run", "--rm", "fromtar", "cat", "/f").stdout == "tar\n"


def test_network_none_and_platform(capsa: Capsa, tmp_path: Path) -> None:
    dockerfile = f"""FROM {BASE}
RUN --network=none ls /sys/class/net > /nets
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    build(capsa, context, "-t", "nonet")
    assert capsa("run", "--rm", "nonet", "cat", "/nets").stdout == "lo\n"
    done = capsa("build", "--platform", "linux/s390x", str(context), code=125)
    assert "this host builds" in done.stderr


def test_builder_prune_drops_the_cache(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    build(capsa, context)  # untagged: nothing but the cache keeps its layers
    df = capsa("system", "df").stdout
    assert "Build Cache" in df
    capsa("builder", "prune", "-a", "-f")
    _, log = build(capsa, context)
    assert "Using cache" not in log


@pytest.mark.parametrize("bad", ["FROM\n", f"FROM {BASE}\nBOGUS x\n", f"FROM {BASE}\nCOPY a\n"])
def test_bad_dockerfiles_get_one_line_with_the_line(capsa: Capsa, tmp_path: Path, bad: str) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": bad})
    done = capsa("build", str(context), code=125)
    assert "Dockerfile:" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_independent_stages_are_built_side_by_side(capsa: Capsa, tmp_path: Path) -> None:
    # Each stage waits (up to 10 s) for the other's mark in a shared cache mount: built
    # one after the other, the first would wait in vain and fail.
    wait = (
        "touch /sync/{me}; i=0; while [ ! -e /sync/{other} ]; do i=$((i+1)); "
        "[ $i -gt 100 ] && exit 1; sleep 0.1; done"
    )
    dockerfile = f"""FROM {BASE} AS one
RUN --mount=type=cache,target=/sync,id=sync-{tmp_path.name} {wait.format(me="one", other="two")}
RUN echo one > /one

FROM {BASE} AS two
RUN --mount=type=cache,target=/sync,id=sync-{tmp_path.name} {wait.format(me="two", other="one")}
RUN echo two > /two

FROM {BASE}
COPY --from=one /one /one
COPY --from=two /two /two
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    build(capsa, context, "-t", "parallel")
    assert capsa("run", "--rm", "parallel", "cat", "/one", "/two").stdout == "one\ntwo\n"


def test_cache_from_an_image_with_inline_cache(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    first, _ = build(capsa, context, "-t", "cached", "--build-arg", "BUILDKIT_INLINE_CACHE=1")
    capsa("builder", "prune", "-a", "-f")
    _, log = build(capsa, context, "--build-arg", "BUILDKIT_INLINE_CACHE=1")
    assert "Using cache" not in log  # the local cache is gone
    capsa("builder", "prune", "-a", "-f")
    again, log = build(
        capsa, context, "--cache-from", "cached", "--build-arg", "BUILDKIT_INLINE_CACHE=1"
    )
    assert log.count("Using cache") == 2
    assert again == first


def test_add_downloads_a_url(capsa: Capsa, tmp_path: Path) -> None:
    served = write(tmp_path / "served", {"remote.txt": "from the server\n"})
    assert capsa.netns is not None
    server = subprocess.Popen(
        [
            "nsenter",
            f"--net={capsa.netns}",
            "python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "8765",
            "--directory",
            str(served),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        dockerfile = f"""FROM {BASE}
ADD http://127.0.0.1:8765/remote.txt /srv/
"""
        context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
        deadline = time.monotonic() + 10
        while True:
            done = capsa("build", "-t", "url", str(context), code=None)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # the server is still starting
        assert done.returncode == 0, done.stderr
        out = capsa("run", "--rm", "url", "stat", "-c", "%a %s", "/srv/remote.txt").stdout
        assert out == "600 16\n"
    finally:
        server.kill()
        server.wait()
    dockerfile = f"FROM {BASE}\nADD http://127.0.0.1:9/nothing.tar /x\n"
    context = write(tmp_path / "bad", {"Dockerfile": dockerfile})
    done = capsa("build", str(context), code=None)
    assert done.returncode != 0
    assert (
        "Dockerfile:2: ADD: ADD http://127.0.0.1:9/nothing.tar: cannot download it" in done.stderr
    )


def test_copy_parents_link_and_onbuild(capsa: Capsa, tmp_path: Path) -> None:
    parent = f"""FROM {BASE}
ONBUILD COPY trigger.txt /trigger.txt
ONBUILD RUN echo triggered >> /trigger.txt
"""
    context = write(tmp_path / "parent", {"Dockerfile": parent})
    build(capsa, context, "-t", "with-onbuild")
    child = """FROM with-onbuild
ARG V=1
RUN echo "$V" > /v
COPY --parents src/./a/b.txt src/c/d.txt /dst/
COPY --link e.txt /linked/e.txt
"""
    files = {
        "Dockerfile": child,
        "trigger.txt": "from the child's context\n",
        "src/a/b.txt": "b\n",
        "src/c/d.txt": "d\n",
        "e.txt": "e\n",
    }
    context = write(tmp_path / "child", files)
    build(capsa, context, "-t", "child")
    out = capsa(
        "run", "--rm", "child", "sh", "-c", "cat /trigger.txt; find /dst /linked -type f | sort"
    )
    assert out.stdout == (
        "from the child's context\ntriggered\n/dst/a/b.txt\n/dst/src/c/d.txt\n/linked/e.txt\n"
    )
    config = json.loads(capsa("image", "inspect", "child").stdout)[0]["Config"]
    assert not config.get("OnBuild")  # triggers run once, in the first child
    _, log = build(capsa, context, "-t", "child", "--build-arg", "V=2")
    steps = log.split("[stage-0 ")
    link_step = next(step for step in steps if step.startswith(f"{len(steps) - 1}/"))
    assert "COPY --link" in link_step and "Using cache" in link_step  # its base changed
    assert capsa("run", "--rm", "child", "cat", "/v", "/linked/e.txt").stdout == "2\ne\n"


def test_copy_from_a_stage_keeps_owners_unless_chown(capsa: Capsa, tmp_path: Path) -> None:
    # Docker (moby#38599), BuildKit and buildah keep the owners of what COPY --from
    # copies; --chown still sets them; the build context's files are root's.
    dockerfile = f"""FROM {BASE} AS builder
ARG OWNER=1000:1000
RUN mkdir -p /out/sub && echo x > /out/f && chown $OWNER /out/f && chown 123:456 /out/sub

FROM {BASE}
COPY --from=builder --chown=7:8 /out /chowned
COPY --from=builder /out /kept
COPY ctx.txt /ctx.txt
"""
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "ctx.txt": "c\n"})
    os.chown(context / "ctx.txt", 4321, 4321)
    build(capsa, context, "-t", "owners")
    script = "stat -c '%n %u:%g' /kept/f /kept/sub /chowned/f /chowned/sub /ctx.txt"
    out = capsa("run", "--rm", "owners", "sh", "-c", script).stdout
    assert out == (
        "/kept/f 1000:1000\n/kept/sub 123:456\n/chowned/f 7:8\n/chowned/sub 7:8\n/ctx.txt 0:0\n"
    )
    # Only an owner changes in the builder stage: the copy that keeps owners runs again.
    _, log = build(capsa, context, "-t", "owners", "--build-arg", "OWNER=2000:2000")
    steps = log.split("[stage-1 ")
    assert "Using cache" in steps[2]  # --chown=7:8: the owners it read do not matter
    assert "COPY --from=builder /out /kept" in steps[3] and "Using cache" not in steps[3]
    out = capsa("run", "--rm", "owners", "stat", "-c", "%u:%g", "/kept/f").stdout
    assert out == "2000:2000\n"


def test_a_fully_cached_build_names_the_image_it_gives_again(capsa: Capsa, tmp_path: Path) -> None:
    # The image is in the store already: the build only points its names at it, taking
    # a name back from the image that had it meanwhile.
    first = write(tmp_path / "one", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    other = write(tmp_path / "two", {"Dockerfile": f'FROM {BASE}\nCMD ["true"]\n'})
    image_id, _ = build(capsa, first, "-t", "named")
    other_id, _ = build(capsa, other, "-t", "named")
    assert other_id != image_id
    again, log = build(capsa, first, "-t", "named", "-t", "second")
    assert again == image_id and log.count("Using cache") == 2
    for name in ("named", "second"):
        assert capsa("images", "-q", "--no-trunc", name).stdout.strip() == image_id
    assert json.loads(capsa("image", "inspect", other_id).stdout)[0]["RepoTags"] == []


def test_a_build_outside_the_command_server_and_a_killed_caller(
    capsa: Capsa, tmp_path: Path
) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": SIMPLE, "file.txt": "content\n"})
    served, _ = build(capsa, context, "-t", "served")
    capsa.env["CAPSA_NO_SERVER"] = "1"
    try:
        here, log = build(capsa, context, "-t", "here")
    finally:
        del capsa.env["CAPSA_NO_SERVER"]
    assert here == served and log.count("Using cache") == 2
    # The caller killed outright: its command (in the server's child) stops and undoes.
    slow = write(tmp_path / "slow", {"Dockerfile": f"FROM {BASE}\nRUN echo started && sleep 60\n"})
    process = capsa.popen("build", str(slow), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 20
    while b"started" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read1(4096)  # type: ignore[attr-defined]
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while leftovers(capsa) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(capsa) == []


def test_build_checks_warn_and_can_fail_the_build(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nCMD echo hi\n"})
    _, log = build(capsa, context)
    assert "[Warning] " in log and "JSONArgsRecommended" in log
    (context / "Dockerfile").write_text(f"# check=error=true\nFROM {BASE}\nCMD echo hi\n")
    done = capsa("build", str(context), code=125)
    assert (
        "build check failed" in done.stderr and "Dockerfile:3: JSONArgsRecommended" in done.stderr
    )
    build(capsa, context, "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=JSONArgsRecommended")


def test_a_caller_in_another_network_namespace_is_not_served_there(
    capsa: Capsa, tmp_path: Path
) -> None:
    # /proc/net/dev lists the interfaces of the reader's network namespace.
    dockerfile = f"FROM {BASE}\nRUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /nets\n"
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    build(capsa, context, "-t", "in-test-netns")  # starts the server in the test's netns
    assert capsa("run", "--rm", "in-test-netns", "cat", "/nets").stdout == "lo\n"
    from e2e_harness import CAPSA

    host = subprocess.run(
        [CAPSA, "build", "--no-cache", "-q", "-t", "from-host", str(context)],
        env=capsa.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert host.returncode == 0, host.stderr
    # Built in the caller's own (the host's) network namespace, not the server's.
    assert capsa("run", "--rm", "from-host", "cat", "/nets").stdout != "lo\n"


def test_tags_labels_and_the_iidfile(capsa: Capsa, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nLABEL from=file\n"})
    iidfile = tmp_path / "iid"
    image_id, _ = build(
        capsa,
        context,
        "-t",
        "one:1",
        "-t",
        "two",
        "--label",
        "extra=yes",
        "--iidfile",
        str(iidfile),
    )
    assert iidfile.read_text() == image_id
    listed = capsa("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert "one:1 " in listed and "two:latest " in listed
    labels = json.loads(capsa("image", "inspect", "two").stdout)[0]["Config"]["Labels"]
    assert labels == {"from": "file", "extra": "yes"}
    quiet = capsa("build", "-q", str(context))
    assert quiet.stderr == "" and quiet.stdout.startswith("sha256:")
