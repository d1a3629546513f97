"""The lean capsa-runtime launcher: what it writes, and that it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from capsa.errors import InvalidArgument
from capsa.runtime import codepack, launcher


def test_the_text_skips_site_and_names_the_paths() -> None:
    text = launcher.launcher_text("/opt/venv/bin/python", ["/opt/src", "/opt/site"], "/p.pack")
    first, *rest = text.splitlines()
    assert first == "#!/opt/venv/bin/python -SP"
    assert "sys.path += ['/opt/src', '/opt/site']" in rest
    assert "codepack.install('/p.pack')" in rest
    assert rest[-1] == "entry()"


@pytest.mark.parametrize("python", ["python3", "/opt/my venv/bin/python"])
def test_an_interpreter_a_shebang_cannot_name_is_refused(python: str) -> None:
    with pytest.raises(InvalidArgument, match="absolute path without blanks"):
        launcher.launcher_text(python, [], "/p.pack")


def test_the_written_launcher_runs(tmp_path: Path) -> None:
    pack = tmp_path / "runtime.pack"
    codepack.build(str(pack))
    path = tmp_path / "capsa-runtime"
    launcher.write_launcher(str(path), sys.executable, launcher.import_paths(), str(pack))
    assert os.stat(path).st_mode & 0o777 == 0o755
    assert not list(tmp_path.glob("*.tmp"))
    result = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("capsa-runtime version ")
    bad = subprocess.run([str(path), "nonsense"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("capsa-runtime: unknown command 'nonsense'")


def test_import_paths_find_capsa_first() -> None:
    paths = launcher.import_paths()
    import capsa

    assert os.path.dirname(os.path.dirname(capsa.__file__)) == paths[0]


def test_the_collector_is_off_from_the_first_line_unless_asked_for(tmp_path: Path) -> None:
    probe = "import gc, os; os.write(1, str(gc.isenabled()).encode())"
    for collect, expected in ((False, "False"), (True, "True")):
        path = tmp_path / f"probe-{collect}"
        launcher.write_launcher(
            str(path),
            sys.executable,
            launcher.import_paths(),
            str(tmp_path / "none.pack"),  # no pack: the imports go the usual way
            entry=("os", "getpid", probe),
            collect=collect,
        )
        result = subprocess.run([str(path)], capture_output=True, text=True, check=False)
        assert result.stdout == expected, result.stderr
