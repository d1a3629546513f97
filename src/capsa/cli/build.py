"""`capsa build [OPTIONS] PATH | URL | -`: build an image from a Dockerfile (see
capsa.build). Progress goes to stderr as podman prints it (each step with its number,
`--> Using cache` or its time, a RUN's output as it comes); the image ID to stdout."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from typing import IO, Any

from capsa.cli._images import Parser, open_store
from capsa.errors import InvalidArgument, NotFound

DOCKERFILE_NAMES = ("Containerfile", "Dockerfile")


class PlainProgress:
    """Lines for people, on `stream`; `quiet` keeps only warnings and failures."""

    def __init__(self, stream: IO[str], *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.lock = threading.Lock()
        self.several = False  # stage labels shown once stages interleave
        self._tails: dict[str, bytes] = {}

    def _write(self, text: str) -> None:
        with self.lock:
            self.stream.write(text)
            self.stream.flush()

    def step(self, stage: str, number: int, total: int, text: str) -> None:
        if not self.quiet:
            self._write(f"[{stage} {number}/{total}] {text}\n")

    def cached(self, stage: str) -> None:
        if not self.quiet:
            self._write("--> Using cache\n")

    def done(self, stage: str, seconds: float) -> None:
        if not self.quiet and seconds >= 0:
            self._write(f"--> done in {seconds:.2f}s\n")

    def output(self, stage: str, data: bytes) -> None:
        if not self.quiet:
            self._write(data.decode(errors="replace"))

    def warning(self, text: str) -> None:
        self._write(f"[Warning] {text}\n")


def _read_dockerfile(options: Any, context_dir: str | None) -> tuple[str, str]:
    """The Dockerfile's text and the name it is known by in errors."""
    name = options.file
    if name == "-":
        return sys.stdin.read(), "Dockerfile"
    if name is None:
        if context_dir is None:
            raise InvalidArgument("a build context from stdin needs -f FILE")
        for candidate in DOCKERFILE_NAMES:
            path = os.path.join(context_dir, candidate)
            if os.path.isfile(path):
                name = path
                break
        else:
            raise NotFound(
                f"no Containerfile or Dockerfile in {context_dir}",
                hint="give one with -f FILE",
            )
    elif context_dir is not None and not os.path.isabs(name) and not os.path.exists(name):
        name = os.path.join(context_dir, name)
    try:
        with open(name, encoding="utf-8-sig") as f:
            return f.read(), name
    except FileNotFoundError:
        raise NotFound(f"cannot read {name}: no such file", hint="check -f") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read {name}: {exc}") from None


def run(args: list[str]) -> int:
    parser = Parser("build", "Build an image from a Containerfile or Dockerfile")
    parser.add_argument(
        "context", metavar="PATH|-", help="the build context (a directory, a tar, or -)"
    )
    parser.add_argument(
        "-f", "--file", help="the Dockerfile (default: PATH/Containerfile or Dockerfile)"
    )
    parser.add_argument("-t", "--tag", action="append", default=[], help="a name for the image")
    parser.add_argument("--build-arg", action="append", default=[], metavar="K=V")
    parser.add_argument("--target", help="the stage to build")
    parser.add_argument("--label", action="append", default=[], metavar="K=V")
    parser.add_argument("--iidfile", help="write the image ID to this file")
    parser.add_argument("--platform", help="the image's platform (only this host's)")
    parser.add_argument("--secret", action="append", default=[], metavar="id=ID,src=PATH")
    parser.add_argument("--network", default="default", choices=("default", "none", "host"))
    parser.add_argument("--no-cache", action="store_true", help="run every step")
    parser.add_argument("--cache-from", action="append", default=[], metavar="IMAGE")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    parser.add_argument("--progress", default="auto", choices=("auto", "plain", "tty", "quiet"))
    parser.add_argument("--pull", default="missing", choices=("missing", "always", "never"))
    options = parser.parse_args(args)
    from capsa.build.builder import (
        Builder,
        BuildOptions,
        parse_build_args,
        source_date_epoch,
    )
    from capsa.build.dockerfile import parse
    from capsa.transport.store.find import normalize_name

    tags = [normalize_name(tag) for tag in options.tag]
    build_args = parse_build_args(options.build_arg)
    labels = dict(_pair(item, "--label") for item in options.label)
    secrets = {}
    if options.secret:
        from capsa.build.mounts import parse_secret

        secrets = {s.id: s for s in (parse_secret(text) for text in options.secret)}
    platform = None
    if options.platform:
        from capsa.oci.platform import parse_platform

        platform = parse_platform(options.platform)
    context, dockerfile_text, filename = _open_context(options)
    try:
        dockerfile = parse(dockerfile_text, filename=filename)
        progress = PlainProgress(sys.stderr, quiet=options.quiet or options.progress == "quiet")
        from capsa.build.checks import build_warnings

        for warning in build_warnings(dockerfile, build_args.get("BUILDKIT_DOCKERFILE_CHECK")):
            progress.warning(warning)
        with open_store(options.root) as store:
            builder = Builder(
                store,
                BuildOptions(
                    dockerfile=dockerfile,
                    context=context,
                    tags=tags,
                    build_args=build_args,
                    target=options.target,
                    labels=labels,
                    no_cache=options.no_cache,
                    cache_from=options.cache_from,
                    platform=platform,
                    secrets=secrets,
                    network=options.network,
                    source_date_epoch=source_date_epoch(build_args),
                    pull=None if options.pull == "never" else _puller(options),
                ),
                progress,
            )
            result = builder.build()
    finally:
        context.close()
    if not options.quiet:
        from capsa.cli._images import familiar

        sys.stderr.write(f"COMMIT {', '.join(familiar(n) for n in tags)}\n" if tags else "")
        for name in tags:
            sys.stderr.write(f"Successfully tagged {familiar(name)}\n")
    if options.iidfile:
        from capsa.store._files import write_atomic

        write_atomic(options.iidfile, result.image_id.encode(), 0o644)
    print(result.image_id)
    return 0


def _open_context(options: Any) -> tuple[Any, str, str]:
    from capsa.build.context import BuildContext

    if options.context == "-":
        data = sys.stdin.buffer.read()
        if _is_tar(data):
            return _tar_context(options, io.BytesIO(data))
        # `capsa build - < Dockerfile`: the Dockerfile alone, an empty context.
        import tempfile

        empty = tempfile.mkdtemp(prefix="capsa-build-context-")
        return BuildContext(empty, temporary=True), data.decode("utf-8-sig"), "Dockerfile"
    if options.context.startswith(("http://", "https://", "git@", "git://")):
        raise InvalidArgument(
            f"build context {options.context}: a remote context needs the network",
            hint="clone or download it, then build the directory",
        )
    if os.path.isfile(options.context):
        with open(options.context, "rb") as f:
            return _tar_context(options, f)
    if not os.path.isdir(options.context):
        raise NotFound(f"build context {options.context}: no such directory")
    text, name = _read_dockerfile(options, options.context)
    dockerfile_relative = os.path.relpath(os.path.abspath(name), os.path.abspath(options.context))
    return BuildContext(options.context, dockerfile=dockerfile_relative), text, name


def _tar_context(options: Any, stream: IO[bytes]) -> tuple[Any, str, str]:
    """A context sent as a tar, unpacked, and the Dockerfile read from it; the unpacked
    tree goes again if the Dockerfile cannot be read."""
    from capsa.build.context import BuildContext

    context = BuildContext.from_tar(stream)
    try:
        text, name = _read_dockerfile(options, context.root)
    except BaseException:
        context.close()
        raise
    return context, text, name


def _is_tar(data: bytes) -> bool:
    from capsa.build.copying import archive_kind_of

    return archive_kind_of(data[:512]) is not None


def _pair(item: str, flag: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    if not key:
        raise InvalidArgument(f"invalid {flag} {item!r}: expected KEY=VALUE")
    return key, value


def _puller(options: Any) -> Any:
    def pull(name: str) -> None:
        from capsa.cli.registry_cmds import pull as pull_command

        args = [name] if not options.root else ["--root", options.root, name]
        with contextlib.redirect_stdout(sys.stderr):
            pull_command(args)

    return pull
