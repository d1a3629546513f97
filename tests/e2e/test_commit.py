"""`capsa commit`: a container's changes become an image that runs."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from e2e_harness import Capsa


def _top_layer_names(capsa: Capsa, image: str, tmp_path: Path) -> list[str]:
    """The entries of the image's last layer, from a docker-archive of it."""
    archive = tmp_path / "saved.tar"
    capsa("save", "-q", "-o", str(archive), image)
    with tarfile.open(archive) as outer:
        manifest = outer.extractfile("manifest.json")
        assert manifest is not None
        layers = json.load(manifest)[0]["Layers"]
        member = outer.extractfile(layers[-1])
        assert member is not None
        with tarfile.open(fileobj=io.BytesIO(member.read())) as layer:
            return layer.getnames()


def _actions(capsa: Capsa, name: str) -> list[str]:
    lines = capsa("events", "--since", "5m", "--until", "0s", "-f", f"container={name}").stdout
    return [line.split()[2] for line in lines.splitlines()]


def test_commit_makes_an_image_of_the_changes(capsa: Capsa, tmp_path: Path) -> None:
    capsa("run", "--name", "maker", "-e", "MADE=yes", "busybox", "sh", "-c",
          "echo hello > /x; rm /bin/ls; mkdir -p /srv/data")
    done = capsa("commit", "-c", 'CMD ["cat","/x"]', "-c", "ENV MORE=1", "-m", "msg", "-a", "me",
                 "maker", "localhost/made:1")
    image_id = done.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert done.stderr == ""
    # the image runs, with the command of --change, the file added and the one deleted gone
    assert capsa("run", "--rm", "localhost/made:1").stdout == "hello\n"
    listing = capsa("run", "--rm", "localhost/made:1", "sh", "-c",
                    "ls /bin/ls; ls -d /srv/data; echo $MADE $MORE")
    assert "/bin/ls: No such file or directory" in listing.stderr
    assert listing.stdout == "/srv/data\nyes 1\n"
    document = capsa.inspect("localhost/made:1")
    assert document["Id"] == image_id
    assert document["Author"] == "me" and document["Comment"] == "msg"
    assert document["Config"]["Cmd"] == ["cat", "/x"]
    base = capsa.inspect("busybox")
    assert document["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    history = capsa("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}",
                    "localhost/made:1").stdout.splitlines()
    assert history[0] == "sh -c echo hello > /x; rm /bin/ls; mkdir -p /srv/data|msg"
    assert len(history) == len(capsa("history", "-q", "busybox").stdout.split()) + 1
    # the layer holds the changes (a whiteout for the deletion), not the engine's mount points
    names = _top_layer_names(capsa, "localhost/made:1", tmp_path)
    assert sorted(names) == ["bin", "bin/.wh.ls", "srv", "srv/data", "x"]
    # the container is still there, its changes with it
    assert capsa("diff", "maker").stdout.splitlines()[:2] == ["C /bin", "D /bin/ls"]
    assert "commit" in _actions(capsa, "maker")


def test_commit_without_a_name_and_of_an_unchanged_container(capsa: Capsa) -> None:
    capsa("create", "--name", "fresh", "busybox", "true")
    image_id = capsa("commit", "fresh").stdout.strip()
    assert image_id.startswith("sha256:")
    listed = capsa("images", "-q", "--no-trunc").stdout.split()
    assert image_id in listed
    assert capsa("run", "--rm", image_id, "echo", "ok").stdout == "ok\n"
    # the container's own command becomes the image's
    assert capsa.inspect(image_id)["Config"]["Cmd"] == ["true"]


def test_commit_pauses_a_running_container(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "busy", "busybox", "sh", "-c",
          "echo live > /live; exec sleep 600")
    capsa.wait_for("busy", lambda s: s["Running"])
    capsa("exec", "busy", "sh", "-c", "while [ ! -e /live ]; do sleep 0.05; done")
    capsa("container", "commit", "busy", "localhost/live:1")
    assert _actions(capsa, "busy")[-3:] == ["pause", "unpause", "commit"]
    assert capsa.state("busy")["Status"] == "running"
    assert capsa("run", "--rm", "localhost/live:1", "cat", "/live").stdout == "live\n"
    capsa("commit", "--pause=false", "busy", "localhost/live:2")
    assert _actions(capsa, "busy")[-3:] == ["unpause", "commit", "commit"]  # no second pause
    capsa("commit", "-p", "busy")  # a flag without a value: -p does not take the name
    assert _actions(capsa, "busy")[-3:] == ["pause", "unpause", "commit"]
    assert capsa.state("busy")["Status"] == "running"


def test_commit_errors(capsa: Capsa) -> None:
    missing = capsa("commit", "nope", code=125)
    assert "no such container" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    capsa("create", "--name", "fresh", "busybox")
    before = capsa("images", "-q").stdout
    bad = capsa("commit", "-c", "RUN make", "fresh", "localhost/bad:1", code=125)
    assert "invalid --change 'RUN make'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2  # the error and its hint
    assert "invalid --pause" in capsa("commit", "--pause=maybe", "fresh", code=125).stderr
    assert "invalid" in capsa("commit", "fresh", "Bad:Name:x", code=125).stderr
    assert capsa("images", "-q").stdout == before  # nothing was made
