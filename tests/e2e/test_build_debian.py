"""`capsa build` on a real Debian root file system (debootstrap --variant=minbase
bookworm, made once per machine and kept in /var/cache/capsa-tests): users, dpkg, file
ownership and deletions over thousands of files."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from e2e_harness import Capsa

CACHE = Path("/var/cache/capsa-tests")
TARBALL = CACHE / "debian-bookworm-minbase.tar"
MIRROR = os.environ.get("CAPSA_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@pytest.fixture(scope="session")
def debian_tarball() -> Path:
    if TARBALL.exists():
        return TARBALL
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="capsa-debootstrap-", dir=CACHE))
    try:
        made = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(work / "rootfs"), MIRROR],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if made.returncode != 0:
            pytest.skip(f"debootstrap could not reach {MIRROR}: {made.stderr.strip()[-300:]}")
        partial = work / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(work / "rootfs"), "--numeric-owner", "-cf", str(partial), "."],
            check=True,
        )
        os.replace(partial, TARBALL)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TARBALL


CONTAINERFILE = """FROM localhost/debian:bookworm
RUN useradd --create-home --uid 1001 app \\
 && dpkg-query -W -f='${Package}\\n' > /packages.txt \\
 && rm -rf /usr/share/doc /usr/share/man
COPY app.sh /home/app/app.sh
RUN chown app:app /home/app/app.sh && chmod 0755 /home/app/app.sh
USER app
WORKDIR /home/app
ENV GREETING="hello from debian"
CMD ["./app.sh"]
"""

APP = """#!/bin/sh
echo "$GREETING as $(id -un) in $(pwd), $(wc -l < /packages.txt) packages"
"""


def test_build_on_a_debian_root_filesystem(
    capsa: Capsa, tmp_path: Path, debian_tarball: Path
) -> None:
    capsa("import", str(debian_tarball), "localhost/debian:bookworm")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(CONTAINERFILE)
    (context / "app.sh").write_text(APP)
    built = capsa("build", "-t", "debian-app", str(context), timeout=300)
    assert built.stdout.startswith("sha256:")
    out = capsa("run", "--rm", "debian-app").stdout
    assert out.startswith("hello from debian as app in /home/app, ")
    assert int(out.split(", ")[1].split()[0]) > 50  # minbase has ~90 packages
    gone = capsa(
        "run", "--rm", "debian-app", "sh", "-c", "ls /usr/share/doc /usr/share/man", code=None
    )
    assert gone.returncode != 0 and "No such file" in gone.stderr + gone.stdout
    owner = capsa("run", "--rm", "debian-app", "stat", "-c", "%U:%G %a", "/home/app/app.sh")
    assert owner.stdout == "app:app 755\n"
    again = capsa("build", "-t", "debian-app", str(context), timeout=300)
    assert again.stdout == built.stdout
    assert again.stderr.count("Using cache") == 3
