"""Supervision: restart policies with back-off, health checks, logs with rotation, the
monitor outliving the command, --init reaping zombies, and state that stays true when
the command or the monitor is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from e2e_harness import Capsa


def test_restart_on_failure_stops_after_the_limit(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo try; exit 1",
    )
    state = capsa.wait_for("flaky", lambda s: s["Status"] == "exited", timeout=30)
    assert state["ExitCode"] == 1
    assert capsa.inspect("flaky")["RestartCount"] == 2
    assert capsa("logs", "flaky").stdout == "try\ntry\ntry\n"


def test_restart_on_failure_does_not_restart_success(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true")
    capsa.wait_for("fine", lambda s: s["Status"] == "exited")
    time.sleep(0.5)
    assert capsa.inspect("fine")["RestartCount"] == 0


def test_restart_always_until_stopped(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 3",
    )
    deadline = time.monotonic() + 30
    while capsa.inspect("phoenix")["RestartCount"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    capsa("stop", "-t", "1", "phoenix")
    state = capsa.state("phoenix")
    assert state["Status"] == "exited"
    count = capsa.inspect("phoenix")["RestartCount"]
    time.sleep(1.0)
    assert capsa.inspect("phoenix")["RestartCount"] == count
    assert capsa.state("phoenix")["Status"] == "exited"


def test_health_check_becomes_healthy_then_unhealthy(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "patient",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "0.2s",
        "--health-retries",
        "2",
        "--health-timeout",
        "2s",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 600",
    )
    state = capsa.wait_for(
        "patient", lambda s: s.get("Health", {}).get("Status") == "healthy", timeout=30
    )
    assert state["Health"]["Log"][-1]["ExitCode"] == 0
    assert "(healthy)" in capsa("ps").stdout
    capsa("exec", "patient", "rm", "/tmp/ok")
    state = capsa.wait_for("patient", lambda s: s["Health"]["Status"] == "unhealthy", timeout=30)
    assert state["Health"]["FailingStreak"] >= 2
    assert len(state["Health"]["Log"]) <= 5
    assert capsa("ps", "-q", "--filter", "health=unhealthy").stdout.strip()


def test_health_check_timeout_counts_as_failure(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "0.2s",
        "--health-timeout",
        "0.3s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "600",
    )
    state = capsa.wait_for(
        "slow", lambda s: s.get("Health", {}).get("Status") == "unhealthy", timeout=30
    )
    assert "timeout" in state["Health"]["Log"][-1]["Output"]


def test_no_healthcheck_and_image_healthcheck_absent(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "plain", "--no-healthcheck", "busybox", "sleep", "600")
    assert "Health" not in capsa.state("plain")


def test_logs_follow_since_timestamps(capsa: Capsa) -> None:
    capsa(
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two; sleep 1; echo three",
    )
    follower = capsa.popen("logs", "-f", "-t", "talker", stdout=subprocess.PIPE)
    out, _ = follower.communicate(timeout=30)
    lines = out.decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three"]
    assert lines[0].split(" ")[0].endswith("Z")
    later = capsa("logs", "--since", lines[1].split(" ")[0], "talker").stdout
    assert later == "two\nthree\n"
    assert capsa("logs", "--until", lines[0].split(" ")[0], "talker").stdout == "one\n"


def test_log_rotation_and_the_none_driver(capsa: Capsa) -> None:
    capsa(
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done",
    )
    path = capsa.inspect("chatty")["LogPath"]
    assert os.path.exists(path + ".1") and os.path.exists(path + ".2")
    assert not os.path.exists(path + ".3")
    assert all(os.path.getsize(p) <= 2048 + 200 for p in (path, path + ".1"))
    kept = capsa("logs", "chatty").stdout.splitlines()
    assert kept[-1] == "line 399" and len(kept) < 400
    numbers = [int(line.split()[1]) for line in kept]
    assert numbers == sorted(numbers)
    capsa("run", "--name", "mute", "--log-driver", "none", "busybox", "echo", "x")
    assert capsa.inspect("mute")["LogPath"] == ""
    capsa("logs", "mute", code=125)


def test_init_reaps_zombies(capsa: Capsa) -> None:
    script = "sh -c 'sleep 0.1 &' ; sleep 1; ps -o stat | grep -c Z || true"
    assert capsa("run", "--rm", "--init", "busybox", "sh", "-c", script).stdout.strip() == "0"
    out = capsa("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline").stdout
    assert out.split("\0")[0].endswith("capsa-init")


def test_the_container_outlives_a_killed_command(capsa: Capsa) -> None:
    command = capsa.popen(
        "run",
        "--name",
        "orphan",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo still here",
        stdout=subprocess.PIPE,
    )
    capsa.wait_for("orphan", lambda s: s["Running"])
    command.send_signal(signal.SIGKILL)
    command.wait()
    state = capsa.wait_for("orphan", lambda s: s["Status"] == "exited", timeout=20)
    assert state["ExitCode"] == 0
    assert capsa("logs", "orphan").stdout == "still here\n"


def test_killed_monitor_is_reported_and_rm_cleans_up(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "lost", "busybox", "sleep", "600")
    capsa.wait_for("lost", lambda s: s["Running"])
    monitor = _monitor_pid(capsa, "lost")
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    state = capsa.state("lost")
    assert state["Running"]  # the container itself is still there, unsupervised
    capsa("rm", "-f", "lost")
    assert capsa.ids() == []


def test_killed_monitor_and_container_show_as_exited(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "gone", "busybox", "sleep", "600")
    state = capsa.wait_for("gone", lambda s: s["Running"])
    monitor = _monitor_pid(capsa, "gone")
    os.kill(monitor, signal.SIGKILL)
    os.kill(state["Pid"], signal.SIGKILL)
    state = capsa.wait_for("gone", lambda s: s["Status"] == "exited")
    assert state["ExitCode"] == 255 and "monitor" in state["Error"]
    capsa("start", "gone")
    capsa.wait_for("gone", lambda s: s["Running"])
    capsa("rm", "-f", "gone")


def test_twenty_runs_at_once(capsa: Capsa) -> None:
    commands = [
        capsa.popen(
            "run",
            "-d",
            "--name",
            f"c{i}",
            "busybox",
            "sleep",
            "600",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(20)
    ]
    for command in commands:
        _, err = command.communicate(timeout=120)
        assert command.returncode == 0, err
    rows = [json.loads(line) for line in capsa("ps", "--format", "json").stdout.splitlines()]
    assert sorted(row["Names"] for row in rows) == sorted(f"c{i}" for i in range(20))
    assert all(row["State"] == "running" for row in rows)
    remover = capsa("rm", "-f", *[f"c{i}" for i in range(20)])
    assert len(remover.stdout.split()) == 20
    assert capsa.ids() == []


def _monitor_pid(capsa: Capsa, name: str) -> int:
    """The monitor host that holds the container: one process for the whole run root
    (capsa.engine.spawner), a child subreaper whose child the container's init is."""
    pid = capsa.state(name)["Pid"]
    with open(f"/proc/{pid}/stat") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/comm") as f:
        assert f.read().strip() == "capsa-monitor", f"the init of {name} is not the host's child"
    return parent
