"""`capsa run` and the lifecycle verbs, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import time

from e2e_harness import Capsa


def test_run_prints_output_and_returns_the_exit_code(capsa: Capsa) -> None:
    done = capsa(
        "run", "--name", "one", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", code=3
    )
    assert done.stdout == "out\n"
    assert done.stderr == "err\n"
    state = capsa.state("one")
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 3
    assert state["FinishedAt"] >= state["StartedAt"]


def test_run_rm_leaves_no_container(capsa: Capsa) -> None:
    assert capsa("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"
    assert capsa.ids() == []


def test_exit_codes_follow_docker(capsa: Capsa) -> None:
    missing = capsa("run", "--rm", "busybox", "no-such-program", code=127)
    assert "no-such-program" in missing.stderr and "not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    capsa("run", "--rm", "busybox", "/etc/passwd", code=126)
    bad = capsa("run", "--no-such-flag", "busybox", code=125)
    assert "no-such-flag" in bad.stderr
    image = capsa("run", "no-such-image", code=125)
    assert "no such image" in image.stderr
    assert capsa.ids() == []


def test_detached_run_logs_stop_start_rm(capsa: Capsa) -> None:
    container_id = capsa(
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; i=0; "
        "while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ).stdout.strip()
    assert len(container_id) == 64
    capsa.wait_for("ticker", lambda s: s["Running"])
    time.sleep(0.5)
    ps = capsa("ps").stdout.splitlines()
    assert ps[0].split()[:2] == ["CONTAINER", "ID"]
    assert container_id[:12] in ps[1] and "Up " in ps[1] and "ticker" in ps[1]
    logs = capsa("logs", "ticker").stdout
    assert logs.startswith("tick 0\ntick 1\n")
    assert capsa("stop", "ticker").stdout == "ticker\n"
    state = capsa.state("ticker")
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    assert capsa("logs", "--tail", "1", "ticker").stdout == "bye\n"
    assert capsa("ps", "-q").stdout == ""
    assert capsa("ps", "-aq").stdout.strip() == container_id[:12]
    capsa("start", "ticker")
    capsa.wait_for("ticker", lambda s: s["Running"])
    capsa("rm", "ticker", code=1)
    assert capsa("rm", "-f", "ticker").stdout == "ticker\n"
    assert capsa.ids() == []


def test_stop_kills_a_program_that_ignores_the_signal(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "stubborn", "busybox", "sleep", "600")
    start = time.monotonic()
    capsa("stop", "-t", "1", "stubborn")
    assert time.monotonic() - start < 10
    assert capsa.state("stubborn")["ExitCode"] == 137


def test_kill_with_a_signal_and_wait(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "victim",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    )
    capsa.wait_for("victim", lambda s: s["Running"])
    waiter = capsa.popen("wait", "victim", stdout=subprocess.PIPE)
    capsa("kill", "-s", "USR1", "victim")
    out, _ = waiter.communicate(timeout=20)
    assert out == b"42\n"
    capsa("kill", "victim", code=1)  # not running any more


def test_create_then_start_attached(capsa: Capsa) -> None:
    container_id = capsa("create", "--name", "later", "busybox", "echo", "made").stdout.strip()
    assert capsa.state("later")["Status"] == "created"
    assert "Created" in capsa("ps", "-a").stdout
    done = capsa("start", "-a", "later")
    assert done.stdout == "made\n"
    assert capsa.state(container_id)["Status"] == "exited"


def test_interactive_stdin(capsa: Capsa) -> None:
    done = capsa("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"shout\n")
    assert done.stdout == "SHOUT\n"


def test_names_are_unique_and_rename(capsa: Capsa) -> None:
    capsa("create", "--name", "same", "busybox", "true")
    taken = capsa("create", "--name", "same", "busybox", "true", code=125)
    assert "already in use" in taken.stderr
    capsa("rename", "same", "other")
    assert capsa.inspect("other")["Name"] == "/other"
    capsa("inspect", "same", code=1)
    capsa("create", "--name", "bad name", "busybox", "true", code=125)


def test_pause_and_unpause(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "napper", "busybox", "sleep", "600")
    capsa.wait_for("napper", lambda s: s["Running"])
    capsa("pause", "napper")
    state = capsa.state("napper")
    assert state["Paused"] and state["Status"] == "paused"
    assert "(Paused)" in capsa("ps").stdout
    capsa("unpause", "napper")
    assert capsa.state("napper")["Status"] == "running"
    capsa("rm", "-f", "napper")


def test_exec_in_a_running_container(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "host", "-e", "BASE=1", "busybox", "sleep", "600")
    capsa.wait_for("host", lambda s: s["Running"])
    done = capsa(
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "host",
        "sh",
        "-c",
        "echo $BASE $EXTRA $(pwd); exit 5",
        code=5,
    )
    assert done.stdout == "1 2 /tmp\n"
    assert capsa("exec", "-u", "nobody", "host", "id", "-u").stdout == "65534\n"
    assert capsa("exec", "-i", "host", "cat", input=b"through\n").stdout == "through\n"
    capsa("exec", "host", "no-such-program", code=127)
    capsa("exec", "-d", "host", "sh", "-c", "echo hidden > /tmp/detached")
    deadline = time.monotonic() + 10
    while capsa("exec", "host", "cat", "/tmp/detached", code=None).stdout != "hidden\n":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    capsa("stop", "-t", "0", "host")
    capsa("exec", "host", "true", code=125)


def test_inspect_has_dockers_shape(capsa: Capsa) -> None:
    capsa(
        "create",
        "--name",
        "shape",
        "-l",
        "team=core",
        "-e",
        "A=b",
        "-w",
        "/srv",
        "--restart",
        "on-failure:3",
        "--hostname",
        "box",
        "busybox",
        "sleep",
        "1",
    )
    document = capsa.inspect("shape")
    assert document["Name"] == "/shape"
    assert document["Path"] == "sleep" and document["Args"] == ["1"]
    assert document["Config"]["Labels"] == {"team": "core"}
    assert "A=b" in document["Config"]["Env"]
    assert document["Config"]["WorkingDir"] == "/srv"
    assert document["Config"]["Hostname"] == "box"
    assert document["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert document["State"]["Status"] == "created"
    assert document["Image"].startswith("sha256:")
    both = json.loads(capsa("inspect", "shape", "busybox").stdout)
    assert both[0]["Name"] == "/shape"
    assert both[1]["RepoTags"] == ["localhost/busybox:latest"]


def test_hostname_hosts_and_resolv_conf(capsa: Capsa) -> None:
    out = capsa(
        "run",
        "--rm",
        "--hostname",
        "web1",
        "--add-host",
        "db:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep db /etc/hosts",
    ).stdout
    assert out.split("\n")[:3] == ["web1", "web1", "10.1.2.3\tdb"]
    resolv = capsa(
        "run", "--rm", "--dns", "192.0.2.53", "busybox", "cat", "/etc/resolv.conf"
    ).stdout
    assert "nameserver 192.0.2.53" in resolv


def test_image_defaults_and_flags_merge(capsa: Capsa) -> None:
    env = capsa("run", "--rm", "-e", "FOO=bar", "busybox", "env").stdout.splitlines()
    assert "FOO=bar" in env
    assert any(line.startswith("PATH=") for line in env)
    assert any(line.startswith("HOSTNAME=") for line in env)
    assert capsa("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b").stdout == "a b\n"
    assert capsa("run", "--rm", "-w", "/made/here", "busybox", "pwd").stdout == "/made/here\n"
    assert capsa("run", "--rm", "-u", "nobody", "busybox", "id").stdout.startswith(
        "uid=65534(nobody) gid=65534"
    )
    capsa("run", "--rm", "-u", "nosuchuser", "busybox", "id", code=125)


def test_env_file_and_labels(capsa: Capsa, tmp_path: os.PathLike[str]) -> None:
    env_file = os.path.join(tmp_path, "vars.env")
    with open(env_file, "w") as f:
        f.write("# comment\nONE=1\nTWO=two words\n")
    out = capsa(
        "run", "--rm", "--env-file", env_file, "busybox", "sh", "-c", "echo $ONE; echo $TWO"
    ).stdout
    assert out == "1\ntwo words\n"


def test_ps_filters_and_format(capsa: Capsa) -> None:
    capsa("create", "--name", "a", "-l", "tier=web", "busybox", "true")
    capsa("run", "--name", "b", "busybox", "sh", "-c", "exit 2", code=2)
    names = capsa("ps", "-a", "--filter", "label=tier=web", "--format", "json").stdout
    assert [json.loads(line)["Names"] for line in names.splitlines()] == ["a"]
    exited = capsa("ps", "-a", "-q", "--filter", "exited=2").stdout.split()
    assert len(exited) == 1
    assert (
        capsa("ps", "-a", "--filter", "status=created", "--format", "json").stdout.count("\n") == 1
    )
    capsa("ps", "--filter", "bogus=1", code=125)


def test_container_prune(capsa: Capsa) -> None:
    capsa("run", "--name", "done1", "busybox", "true")
    capsa("run", "-d", "--name", "alive", "busybox", "sleep", "600")
    out = capsa("container", "prune", "-f").stdout
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    assert capsa("ps", "-a", "--format", "json").stdout.count("alive") == 1
    assert "done1" not in capsa("ps", "-a").stdout


def test_the_client_environment_and_directory_are_the_commands(capsa: Capsa) -> None:
    # the container is created by the monitor spawner, not by this command: what the
    # command's own environment and directory mean must be resolved before it asks
    capsa.env["FROM_CLIENT"] = "yes"
    capsa.env.pop("NOT_SET_ANYWHERE", None)
    script = "echo ${FROM_CLIENT:-no}; env | grep -c NOT_SET_ANYWHERE; true"
    out = capsa("run", "--rm", "-e", "FROM_CLIENT", "-e", "NOT_SET_ANYWHERE", "busybox",
                "sh", "-c", script)  # fmt: skip
    assert out.stdout == "yes\n0\n"
