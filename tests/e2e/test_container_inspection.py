"""The verbs that look into a container: export, diff, top, stats, events, cp."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from e2e_harness import Capsa


def _names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return set(tar.getnames())


def test_export_writes_the_root_as_a_tar(capsa: Capsa, tmp_path: Path) -> None:
    capsa("run", "--name", "made", "busybox", "sh", "-c", "echo hello > /root/greeting; rm /bin/ls")
    done = capsa.popen("export", "made", stdout=-1, stderr=-1)
    data, _ = done.communicate(timeout=60)
    assert done.returncode == 0
    names = _names(data)
    assert "root/greeting" in names and "bin/busybox" in names and "bin/ls" not in names
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("root/greeting")
        assert member is not None and member.read() == b"hello\n"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "made.tar"
    capsa("export", "-o", str(output), "made")
    assert _names(output.read_bytes()) == names
    assert [p.name for p in out_dir.iterdir()] == ["made.tar"]  # no temporary file left


def test_export_of_a_running_container_leaves_out_its_mounts(
    capsa: Capsa, tmp_path: Path
) -> None:
    capsa("run", "-d", "--name", "live", "-v", "/data", "busybox", "sh", "-c",
          "echo v > /data/in-volume; touch /made-live; sleep 600")
    capsa.wait_for("live", lambda s: s["Running"])
    capsa("exec", "live", "sh", "-c", "while [ ! -e /made-live ]; do sleep 0.05; done")
    output = tmp_path / "live.tar"
    capsa("export", "--output", str(output), "live")
    names = _names(output.read_bytes())
    assert "made-live" in names and "data" in names
    assert "data/in-volume" not in names
    assert not any(name.startswith("proc/") for name in names)


def test_export_errors(capsa: Capsa, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    missing = capsa("export", "-o", str(out_dir / "x.tar"), "nope", code=125)
    assert "no such container: nope" in missing.stderr
    assert list(out_dir.iterdir()) == []
    capsa("create", "--name", "fresh", "busybox")
    bad_dir = capsa("export", "-o", str(tmp_path / "no/such/x.tar"), "fresh", code=125)
    assert "no such directory" in bad_dir.stderr
    assert len(bad_dir.stderr.strip().splitlines()) == 1


def test_diff_lists_added_changed_deleted(capsa: Capsa) -> None:
    capsa("run", "--name", "changer", "busybox", "sh", "-c",
          "echo new > /etc/new; echo x >> /etc/passwd; rm /bin/ls; mkdir -p /tmp/a/b")
    assert capsa("diff", "changer").stdout.splitlines() == [
        "C /bin",
        "D /bin/ls",
        "C /etc",
        "A /etc/new",
        "C /etc/passwd",
        "C /tmp",
        "A /tmp/a",
        "A /tmp/a/b",
    ]
    assert capsa("container", "diff", "changer").stdout.startswith("C /bin\n")


def test_diff_of_an_untouched_container_is_empty(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "idle", "busybox", "sleep", "600")
    capsa.wait_for("idle", lambda s: s["Running"])
    assert capsa("diff", "idle").stdout == ""
    capsa("exec", "idle", "touch", "/root/x")
    assert capsa("diff", "idle").stdout == "C /root\nA /root/x\n"
    assert "no such container" in capsa("diff", "nope", code=125).stderr


def test_export_refuses_a_terminal(capsa: Capsa) -> None:
    import os

    capsa("create", "--name", "fresh", "busybox")
    controller, terminal = os.openpty()
    try:
        process = capsa.popen("export", "fresh", stdout=terminal, stderr=-1)
        _, err = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == 125
    assert "cowardly refusing to save to a terminal. Use the -o flag or redirect" in err.decode()


def test_top_lists_the_container_processes(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 601 & sleep 602; wait")
    capsa.wait_for("busy", lambda s: s["Running"])
    lines = capsa("top", "busy").stdout.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = sorted(line.split(None, 7)[7] for line in lines[1:])
    assert commands == ["sh -c sleep 601 & sleep 602; wait", "sleep 601", "sleep 602"]
    own = capsa("top", "busy", "-o", "pid,comm").stdout.splitlines()
    assert own[0].split() == ["PID", "COMMAND"] and len(own) == 4
    assert "couldn't find PID field" in capsa("top", "busy", "-o", "comm", code=125).stderr
    capsa("create", "--name", "idle", "busybox")
    stopped = capsa("top", "idle", code=125)
    assert "container idle is not running" in stopped.stderr


def test_stats_once_shows_usage_within_limits(capsa: Capsa) -> None:
    import json

    capsa("run", "-d", "--name", "spin", "-m", "64m", "busybox", "sh", "-c", "while :; do :; done")
    capsa("create", "--name", "idle", "busybox")
    capsa.wait_for("spin", lambda s: s["Running"])
    lines = capsa("stats", "--no-stream").stdout.splitlines()
    assert lines[0].split() == [
        "CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
        "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS",
    ]
    assert len(lines) == 2 and " spin " in lines[1]  # a stopped one only with -a
    row = json.loads(capsa("stats", "--no-stream", "--format", "json", "spin").stdout)
    assert row["Container"] == "spin" and row["PIDs"] == "1"
    assert row["MemUsage"].endswith(" / 64MiB")
    assert float(row["CPUPerc"].rstrip("%")) > 20  # a busy loop, whatever else runs
    everything = capsa("stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}}").stdout
    assert sorted(everything.splitlines())[0] == "idle 0.00%"
    assert "no such container" in capsa("stats", "--no-stream", "nope", code=125).stderr


def test_stats_streams_until_interrupted(capsa: Capsa) -> None:
    import signal
    import time

    capsa("run", "-d", "--name", "quiet", "busybox", "sleep", "600")
    capsa.wait_for("quiet", lambda s: s["Running"])
    process = capsa.popen("stats", "--format", "{{.Name}}", "quiet", stdout=-1, stderr=-1)
    time.sleep(3.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.decode().splitlines().count("quiet") >= 2


def test_events_window_and_formats(capsa: Capsa) -> None:
    import json

    capsa("run", "--name", "brief", "busybox", "true")
    container_id = capsa.inspect("brief")["Id"]
    lines = capsa("events", "--since", "5m", "--until", "0s").stdout.splitlines()
    actions = [line.split()[2] for line in lines if container_id in line]
    assert actions[:3] == ["create", "start", "die"]
    assert lines[0].endswith("(image=busybox, name=brief)")
    documents = capsa(
        "events", "--since", "5m", "--until", "0s", "-f", "event=die", "--format", "{{json .}}"
    ).stdout.splitlines()
    die = json.loads(documents[0])
    assert die["Type"] == "container" and die["Action"] == "die" and die["scope"] == "local"
    assert die["Actor"]["ID"] == container_id
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert capsa("events", "--since", "5m", "--until", "0s", "-f", "container=other").stdout == ""
    assert "invalid --since" in capsa("events", "--since", "yesterday-ish", code=125).stderr


def test_events_follow_new_ones_until_interrupted(capsa: Capsa) -> None:
    import signal
    import time

    capsa("run", "--name", "before", "busybox", "true")
    process = capsa.popen("events", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
                          stdout=-1, stderr=-1)
    time.sleep(1.0)
    capsa("run", "--name", "after", "busybox", "true")
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    lines = out.decode().splitlines()
    assert lines[:3] == ["create after", "start after", "die after"]
    assert not any("before" in line for line in lines)


def test_events_until_in_the_future_stops_there(capsa: Capsa) -> None:
    import time

    start = time.monotonic()
    done = capsa("events", "--until", str(time.time() + 1.5))
    assert done.stdout == ""  # nothing happened in this root
    assert 1.0 < time.monotonic() - start < 15


def test_cp_both_ways_by_dockers_rules(capsa: Capsa, tmp_path: Path) -> None:
    import os

    local = tmp_path / "local"
    (local / "tree/sub").mkdir(parents=True)
    (local / "tree/sub/f").write_text("deep")
    (local / "one").write_text("one")
    os.chown(local / "one", 1234, 1234)
    capsa("run", "-d", "--name", "box", "-v", "/data", "busybox", "sh", "-c",
          "ln -s / /root/escape; ln -s /etc /root/etc-link; sleep 600")
    capsa.wait_for("box", lambda s: s["Running"])
    capsa("exec", "box", "sh", "-c", "while [ ! -L /root/etc-link ]; do sleep 0.05; done")
    capsa("cp", str(local / "one"), "box:/root/")
    capsa("cp", "-a", str(local / "one"), "box:/root/kept")
    capsa("cp", str(local / "tree"), "box:/root/copied")
    capsa("cp", str(local / "tree"), "box:/root")
    capsa("cp", str(local / "one"), "box:/root/escape/tmp/")  # the container's /tmp
    listing = capsa("exec", "box", "sh", "-c",
                    "stat -c '%n %u' /root/one /root/kept; cat /root/copied/sub/f /root/tree/sub/f;"
                    " ls /tmp").stdout
    assert listing.splitlines() == ["/root/one 0", "/root/kept 1234", "deepdeepone"]
    out = tmp_path / "out"
    out.mkdir()
    capsa("cp", "box:/etc/passwd", str(out))
    capsa("cp", "box:/etc", str(out / "etc-copy"))
    capsa("cp", "box:/root/etc-link", str(out / "link"))
    capsa("cp", "-L", "box:/root/etc-link", str(out / "followed"))
    assert (out / "passwd").read_text().startswith("root:x:0:0")
    assert (out / "etc-copy/group").is_file()
    assert os.readlink(out / "link") == "/etc"
    assert (out / "followed/passwd").is_file()
    missing = capsa("cp", "box:/nope", str(out), code=125)
    assert "could not find the file /nope in container box" in missing.stderr
    to_file = capsa("cp", "box:/etc", str(out / "passwd"), code=125)
    assert "cannot copy a directory to a file" in to_file.stderr
    no_dir = capsa("cp", str(local / "one"), "box:/no/such/", code=125)
    assert "no such directory" in no_dir.stderr
    volume = capsa("cp", str(local / "one"), "box:/data/", code=125)
    assert "/data is a volume or bind mount" in volume.stderr


def test_cp_tar_streams_and_stopped_containers(capsa: Capsa) -> None:
    capsa("create", "--name", "cold", "busybox")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("in-tar.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    capsa("cp", "-", "cold:/root", input=data.getvalue())
    process = capsa.popen("cp", "cold:/root/in-tar.txt", "-", stdout=-1, stderr=-1)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        member = tar.extractfile("in-tar.txt")
        assert member is not None and member.read() == b"abc"
    assert "A /root/in-tar.txt" in capsa("diff", "cold").stdout
    both = capsa("cp", "cold:/a", "cold:/b", code=125)
    assert "copying between containers is not supported" in both.stderr
