from __future__ import annotations

import pytest

from capsa.cli.main import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "info" in out and "version" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert "capsa version" in capsys.readouterr().out


def test_unknown_command_exits_125(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 125
    assert "unknown command" in capsys.readouterr().err


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["host"]["cgroupVersion"] in ("v1", "v2", "hybrid")


def test_global_root_sets_the_store_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("CAPSA_ROOT", raising=False)
    assert main(["--root", "/tmp/some-root", "version"]) == 0
    assert os.environ["CAPSA_ROOT"] == "/tmp/some-root"
    assert main(["--root"]) == 125
