from __future__ import annotations

import signal

import pytest

from capsa.errors import InvalidArgument
from capsa.runtime.cli import COMMAND_FLAGS, GLOBAL_FLAGS, main, parse_flags
from capsa.runtime.kill import parse_signal
from capsa.runtime.update import merge, parse_bytes


def test_global_flags_stop_at_the_command() -> None:
    parsed, rest = parse_flags(
        ["--root", "/x", "--log-format=json", "--debug", "state", "id"],
        GLOBAL_FLAGS,
        "g",
        stop_at_positional=True,
    )
    assert parsed.text("root") == "/x"
    assert parsed.text("log_format") == "json"
    assert parsed.flag("debug")
    assert rest == ["state", "id"]


def test_go_style_single_dash_long_flags() -> None:
    parsed, rest = parse_flags(
        ["-bundle", "/b", "-pid-file=/p", "cid"],
        COMMAND_FLAGS["create"],
        "create",
        stop_at_positional=True,
    )
    assert parsed.text("bundle") == "/b"
    assert parsed.text("pid_file") == "/p"
    assert rest == ["cid"]


def test_exec_keeps_the_command_flags_after_the_id() -> None:
    parsed, rest = parse_flags(
        ["-e", "A=1", "--env", "B=2", "-t", "cid", "ls", "-l"],
        COMMAND_FLAGS["exec"],
        "exec",
        stop_at_positional=True,
    )
    assert parsed.many("env") == ["A=1", "B=2"]
    assert parsed.flag("tty")
    assert rest == ["cid", "ls", "-l"]


def test_boolean_flags_take_explicit_values() -> None:
    parsed, _ = parse_flags(
        ["--detach=false"], COMMAND_FLAGS["run"], "run", stop_at_positional=True
    )
    assert not parsed.flag("detach")


def test_unknown_flag_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="unknown flag --bogus"):
        parse_flags(["--bogus"], COMMAND_FLAGS["create"], "create", stop_at_positional=True)


def test_missing_value_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="needs a value"):
        parse_flags(["--bundle"], COMMAND_FLAGS["create"], "create", stop_at_positional=True)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("9", 9),
        ("KILL", 9),
        ("SIGKILL", 9),
        ("term", 15),
        ("SIGUSR1", int(signal.SIGUSR1)),
        ("RTMIN+2", int(signal.SIGRTMIN) + 2),
        ("SIGRTMAX", int(signal.SIGRTMAX)),
    ],
)
def test_signal_names_and_numbers(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGBOGUS", "0", "99", ""])
def test_bad_signals(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1024", 1024), ("512m", 512 * 2**20), ("1G", 2**30), ("2kb", 2048), ("-1", -1)],
)
def test_byte_sizes(text: str, value: int) -> None:
    assert parse_bytes(text, "--memory") == value


def test_bad_byte_size() -> None:
    with pytest.raises(InvalidArgument, match="--memory"):
        parse_bytes("lots", "--memory")


def test_merge_is_deep() -> None:
    assert merge({"memory": {"limit": 1, "swap": 2}}, {"memory": {"limit": 3}}) == {
        "memory": {"limit": 3, "swap": 2}
    }


def test_version_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "capsa-runtime version" in capsys.readouterr().out
    assert main(["--root", "/nonexistent-capsa", "state", "nope"]) == 1
    assert "container 'nope' does not exist" in capsys.readouterr().err
    assert main(["--systemd-cgroup", "list"]) == 1
    assert "systemd cgroup manager is not available" in capsys.readouterr().err
    assert main(["frobnicate"]) == 1
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_log_file_in_json(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from capsa.fastjson import loads

    assert isinstance(tmp_path, Path)
    log = tmp_path / "log.json"
    assert (
        main(
            ["--log", str(log), "--log-format", "json", "--root", str(tmp_path), "start", "missing"]
        )
        == 1
    )
    record = loads(log.read_text().splitlines()[0])
    assert isinstance(record, dict)
    assert record["level"] == "error"
    assert "does not exist" in record["msg"]


def test_spec_writes_a_valid_config(tmp_path: object) -> None:
    from pathlib import Path

    from capsa.fastjson import loads
    from capsa.oci.runtime_config import validate_runtime_config

    assert isinstance(tmp_path, Path)
    assert main(["spec", "--bundle", str(tmp_path)]) == 0
    validate_runtime_config(loads((tmp_path / "config.json").read_text()))
    assert main(["spec", "--bundle", str(tmp_path)]) == 1  # refuses to overwrite
