"""ADD's remote sources: a file over HTTP(S), or a git repository. Both need the network;
when it is not there the step fails with one line saying what could not be fetched."""

from __future__ import annotations

import email.utils
import os
import posixpath
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from capsa.errors import InvalidArgument, NotFound, Unavailable

TIMEOUT = 30.0
_CHUNK = 1 << 20


def is_git(source: str) -> bool:
    if source.startswith(("git@", "git://")):
        return True
    path = urllib.parse.urlsplit(source).path
    return source.startswith(("http://", "https://")) and (
        path.endswith(".git") or ".git#" in source
    )


def fetch_url(url: str, directory: str) -> str:
    """Download `url` into `directory` as Docker names it (the last part of the URL's
    path, else "download"), mode 0600, its mtime the Last-Modified header's; returns the
    file's name."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "download"
    if name in (".", ".."):
        name = "download"
    path = os.path.join(directory, name)
    request = urllib.request.Request(url, headers={"User-Agent": "capsa-build"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise NotFound(f"ADD {url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(
            f"ADD {url}: cannot download it: {reason}",
            hint="check the network, or put the file in the build context and ADD it from there",
        ) from None
    if modified:
        when = email.utils.parsedate_to_datetime(modified)
        if when is not None:
            os.utime(path, (when.timestamp(), when.timestamp()))
    return name


def clone_git(source: str, directory: str, *, keep_git_dir: bool) -> str:
    """`git clone --depth 1` of `source` (`URL#REF` picks a branch or tag) into
    `directory`/repo; returns "repo"."""
    git = shutil.which("git")
    if git is None:
        raise Unavailable(
            f"ADD {source}: a git source needs git, which is not installed",
            hint="apt-get install git, or clone it into the build context",
        )
    url, _, ref = source.partition("#")
    ref, _, subdir = ref.partition(":")
    if subdir:
        raise InvalidArgument(f"ADD {source}: a subdirectory of a git source is not supported")
    target = os.path.join(directory, "repo")
    command = [
        git,
        "clone",
        "--depth",
        "1",
        "--quiet",
        *(["--branch", ref] if ref else []),
        url,
        target,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise Unavailable(
            f"ADD {source}: cannot clone it: {message}",
            hint="check the network and the URL, or clone it into the build context",
        )
    if not keep_git_dir:
        shutil.rmtree(os.path.join(target, ".git"), ignore_errors=True)
    return "repo"
