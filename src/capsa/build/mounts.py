"""`RUN --mount=...`: what BuildKit's mount types mean here.

- `type=bind` (the default): a path of the build context, of a stage (`from=STAGE`) or
  of an image, read-only unless `rw` (then a copy is mounted and the writes are thrown
  away);
- `type=cache`: a directory kept between builds (by `id`, default the target), shared,
  or `sharing=locked` (one build at a time) or `private` (a fresh one when in use);
- `type=tmpfs`: an empty tmpfs;
- `type=secret`: a file from `--secret id=…,src=…` (or `env=…`), at `/run/secrets/ID`
  by default, never part of a layer (its mount point is removed before the commit).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from capsa.errors import InvalidArgument, NotFound

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")


@dataclass(frozen=True)
class RunMount:
    type: str
    target: str
    source: str = ""
    from_: str = ""  # a stage name or index, or an image
    readonly: bool = True
    cache_id: str = ""
    sharing: str = "shared"
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    size: int = 0
    required: bool = False
    secret_env: str = ""  # type=secret,env=NAME: the secret as an environment variable
    options: dict[str, str] = field(default_factory=dict)


def parse_run_mount(text: str) -> RunMount:
    """One `--mount=` value: comma-separated key=value pairs (a bare key means true)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        fields[key] = value if eq else "true"
    kind = fields.pop("type", "bind")
    if kind not in MOUNT_TYPES:
        raise InvalidArgument(
            f"invalid --mount {text!r}: unknown type {kind!r}",
            hint="use bind, cache, tmpfs or secret",
        )
    if kind == "ssh":
        raise InvalidArgument(
            f"invalid --mount {text!r}: ssh mounts need an SSH agent forwarded, which capsa "
            "build does not do",
            hint="use a secret mount for keys",
        )
    target = fields.pop("target", "") or fields.pop("dst", "") or fields.pop("destination", "")
    cache_id = fields.pop("id", "")
    if kind == "secret":
        if not cache_id and not target:
            raise InvalidArgument(f"invalid --mount {text!r}: a secret mount needs id= or target=")
        cache_id = cache_id or os.path.basename(target)
        secret_env = fields.pop("env", "")
        if not target and not secret_env:
            target = f"/run/secrets/{cache_id}"
    else:
        secret_env = ""
    if kind != "secret" and not target:
        raise InvalidArgument(f"invalid --mount {text!r}: target= is required")
    if target and not target.startswith("/"):
        raise InvalidArgument(f"invalid --mount {text!r}: the target must be an absolute path")
    readonly = _flag(fields.pop("readonly", fields.pop("ro", "")))
    rw = _flag(fields.pop("rw", fields.pop("readwrite", "")))
    mode_text = fields.pop("mode", "")
    try:
        mode = int(mode_text, 8) if mode_text else None
        uid = int(fields.pop("uid", "0"))
        gid = int(fields.pop("gid", "0"))
        size = _size(fields.pop("size", "0"))
    except ValueError as exc:
        raise InvalidArgument(f"invalid --mount {text!r}: {exc}") from None
    sharing = fields.pop("sharing", "shared")
    if sharing not in ("shared", "private", "locked"):
        raise InvalidArgument(
            f"invalid --mount {text!r}: sharing must be shared, private or locked"
        )
    mount = RunMount(
        type=kind,
        target=os.path.normpath(target) if target else "",
        source=fields.pop("source", fields.pop("src", "")),
        from_=fields.pop("from", ""),
        readonly=(not rw) if kind == "bind" else readonly,
        cache_id=cache_id or (target if kind == "cache" else ""),
        sharing=sharing,
        mode=mode,
        uid=uid,
        gid=gid,
        size=size,
        required=_flag(fields.pop("required", "")),
        secret_env=secret_env,
    )
    if fields:
        raise InvalidArgument(
            f"invalid --mount {text!r}: unknown option {sorted(fields)[0]!r} for type={kind}"
        )
    return mount


def _flag(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


@dataclass(frozen=True)
class Secret:
    id: str
    source: str = ""  # a file
    env: str = ""  # an environment variable of the build's caller

    def read(self) -> bytes:
        if self.source:
            try:
                with open(self.source, "rb") as f:
                    return f.read()
            except OSError as exc:
                raise NotFound(
                    f"secret {self.id}: cannot read {self.source}: {exc.strerror}"
                ) from None
        value = os.environ.get(self.env or self.id)
        if value is None:
            raise NotFound(
                f"secret {self.id}: the environment variable {self.env or self.id} is not set"
            )
        return value.encode()


def parse_secret(text: str) -> Secret:
    """`--secret id=NAME[,src=PATH|,env=VAR]` (type=file|env accepted)."""
    fields = dict(part.partition("=")[::2] for part in text.split(",") if part)
    secret_id = fields.pop("id", "")
    source = fields.pop("src", "") or fields.pop("source", "")
    env = fields.pop("env", "")
    kind = fields.pop("type", "file")
    if kind not in ("file", "env"):
        raise InvalidArgument(
            f"invalid --secret {text!r}: unsupported type {kind!r}",
            hint="use type=file or type=env",
        )
    if kind == "env" and not env:  # buildx: with type=env, src= names the variable
        env, source = source, ""
    if not secret_id:
        raise InvalidArgument(
            f"invalid --secret {text!r}: id= is required", hint="--secret id=NAME,src=FILE"
        )
    if fields:
        raise InvalidArgument(f"invalid --secret {text!r}: unknown option {sorted(fields)[0]!r}")
    if not source and not env:  # BuildKit: the variable named ID, else the file
        if secret_id in os.environ:
            env = secret_id
        elif os.path.exists(secret_id):
            source = secret_id
        else:
            raise InvalidArgument(
                f"invalid --secret {text!r}: give src=FILE or env=VARIABLE",
                hint=f"or set the environment variable {secret_id}",
            )
    if source:
        source = os.path.abspath(source)
        if not os.path.isfile(source):
            raise NotFound(f"invalid --secret {text!r}: {source}: no such file")
    return Secret(secret_id, source, env)


class CacheMounts:
    """The directories of `type=cache` mounts, under `<store root>/build-mounts`."""

    def __init__(self, root: str) -> None:
        self.root = root

    def directory(self, mount: RunMount) -> tuple[str, contextlib.ExitStack]:
        """The directory to mount, and what releases it after the step."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        name = hashlib.sha256(mount.cache_id.encode()).hexdigest()[:32]
        path = os.path.join(self.root, name)
        stack = contextlib.ExitStack()
        if not os.path.isdir(path):
            tmp = tempfile.mkdtemp(dir=self.root)
            os.chmod(tmp, mount.mode if mount.mode is not None else 0o755)
            os.chown(tmp, mount.uid, mount.gid)
            with contextlib.suppress(OSError):
                os.rename(tmp, path)
            shutil.rmtree(tmp, ignore_errors=True)
        if mount.sharing == "shared":
            return path, stack
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        stack.callback(os.close, lock)
        if mount.sharing == "locked":
            fcntl.flock(lock, fcntl.LOCK_EX)
            return path, stack
        try:  # private: this one when free, else a throw-away directory
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return path, stack
        except BlockingIOError:
            scratch = tempfile.mkdtemp(dir=self.root, prefix="private-")
            stack.callback(shutil.rmtree, scratch, True)
            return scratch, stack
