"""The command's side of `capsa system reset`: stopping the command server of a run root
(a stand-in listener: the real server preloads the whole CLI), and the prompt."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capsa.cli import server, system
from capsa.errors import InvalidArgument

# -- the command server ---------------------------------------------------------------

LISTENER = """
import os, socket, sys, time
path = os.path.join(sys.argv[1], "cli.sock")
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
print("ready", flush=True)
leave_with_socket = sys.argv[2] == "leaves"
while not leave_with_socket or os.path.exists(path):
    time.sleep(0.02)
"""


def _listener(run_dir: Path, behaviour: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", LISTENER, str(run_dir), behaviour],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_the_command_server_leaves_when_its_socket_goes(tmp_path: Path) -> None:
    process = _listener(tmp_path, "leaves")
    try:
        server.stop(str(tmp_path), timeout=5.0)
        assert not (tmp_path / "cli.sock").exists()
        assert process.wait(1) == 0
    finally:
        process.kill()
        process.wait()


def test_a_command_server_that_stays_gets_sigterm(tmp_path: Path) -> None:
    process = _listener(tmp_path, "stays")
    try:
        started = time.monotonic()
        server.stop(str(tmp_path), timeout=0.3)
        assert process.wait(1) == -15
        assert time.monotonic() - started < 5
    finally:
        process.kill()
        process.wait()


def test_no_command_server_is_nothing_to_stop(tmp_path: Path) -> None:
    server.stop(str(tmp_path), timeout=0.5)
    (tmp_path / "cli.sock").write_text("")  # a dead server's, say: not a socket
    server.stop(str(tmp_path), timeout=0.5)


# -- the command ------------------------------------------------------------------------


def test_the_prompt_lists_what_goes_and_no_keeps_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "engine.db").write_text("kept")
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert system.reset(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WARNING! This will remove:\n        - all containers\n")
    assert f'        - the root directory: "{tmp_path}"\n' in out
    assert f'        - the run root directory: "{tmp_path / "run"}"\n' in out
    assert out.endswith("\nAre you sure you want to continue? [y/N] ")
    assert (tmp_path / "engine" / "engine.db").read_text() == "kept"
    assert sorted(os.listdir(tmp_path)) == ["engine"]


def test_a_root_that_is_not_capsas_is_refused_before_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with pytest.raises(InvalidArgument, match="does not look like a capsa root"):
        system.reset(["--root", str(tmp_path)])
    assert capsys.readouterr().out == ""
    assert os.listdir(tmp_path) == ["notes.txt"]
