"""The commands on a container's files: `capsa export`, `capsa diff`, `capsa cp`.
Parse, call the engine, print as Docker prints."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from capsa.cli._images import Parser
from capsa.cli.container_cmds import open_engine
from capsa.errors import InvalidArgument


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A file that appears at `path` whole or not at all (temporary file, fsync, rename)."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise InvalidArgument(
            f"cannot write {path}: no such directory {directory}",
            hint="create the directory first",
        )
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def refuse_terminal_stdout() -> None:
    if sys.stdout.isatty():
        raise InvalidArgument(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )


def export(args: list[str]) -> int:
    """`capsa export [-o FILE] CONTAINER`: the container's file system as a tar."""
    from capsa.engine.export import export_container

    parser = Parser("export", "Export a container's file system as a tar archive")
    parser.add_argument("-o", "--output", default="", help="write to a file, not stdout")
    parser.add_argument("container", metavar="CONTAINER")
    options = parser.parse_args(args)
    if not options.output:
        refuse_terminal_stdout()
    with open_engine(options.root) as engine:
        if options.output:
            engine.find(options.container)  # no file for a container that is not there
            with atomic_output(options.output) as file:
                export_container(engine, options.container, file.write)
        else:
            out = sys.stdout.buffer
            try:
                export_container(engine, options.container, out.write)
                out.flush()
            except BrokenPipeError:  # `capsa export c | head`: the reader is done
                _quiet_stdout()
                return 1
    return 0


def _quiet_stdout() -> None:
    """After a broken pipe: nothing more reaches stdout, not even Python's final flush."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def diff(args: list[str]) -> int:
    """`capsa diff CONTAINER`: Docker's `A`/`C`/`D` lines."""
    from capsa.engine.changes import container_changes

    parser = Parser("diff", "Inspect changes to files or directories of a container")
    parser.add_argument("container", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        changes = container_changes(engine, options.container)
    sys.stdout.write("".join(f"{change.line()}\n" for change in changes))
    return 0


def cp(args: list[str]) -> int:
    """`capsa cp [-a] [-L] SRC DEST`: one side `CONTAINER:PATH`, the other a local path
    or `-` (a tar on stdin or stdout)."""
    from capsa.engine.copy import copy_from_container, copy_to_container, split_copy_arg

    parser = Parser("cp", "Copy files between a container and the local file system")
    parser.add_argument("-a", "--archive", action="store_true", help="keep uid/gid")
    parser.add_argument("-L", "--follow-link", action="store_true", help="follow SRC's symlink")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("dest", metavar="DEST")
    options = parser.parse_args(args)
    src_container, src = split_copy_arg(options.src)
    dest_container, dest = split_copy_arg(options.dest)
    if src_container is not None and dest_container is not None:
        raise InvalidArgument("copying between containers is not supported")
    if src_container is None and dest_container is None:
        raise InvalidArgument(
            "must specify at least one container source", hint="capsa cp CONTAINER:PATH DEST"
        )
    with open_engine(options.root) as engine:
        if src_container is not None:
            if dest == "-":
                refuse_terminal_stdout()
                out = sys.stdout.buffer
                copy_from_container(
                    engine, src_container, src, dest, out, follow=options.follow_link
                )
                out.flush()
            else:
                copy_from_container(
                    engine, src_container, src, dest, None, follow=options.follow_link
                )
        else:
            assert dest_container is not None
            stream = sys.stdin.buffer if src == "-" else None
            copy_to_container(
                engine,
                dest_container,
                src,
                dest,
                stream,
                follow=options.follow_link,
                keep_owner=options.archive,
            )
    return 0
