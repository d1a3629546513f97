"""Write a lean `capsa-runtime` command in place of the console script pip makes.

pip's script starts Python with `site`, which reads the virtualenv's configuration and
runs every .pth file of site-packages (~2.5 ms here) before the runtime's first line;
a runtime is started for every container. The lean one starts Python with -S (no site)
and -P (no script directory on the path) and puts on sys.path itself what `site` would
have added: the directory capsa is imported from and the site-packages directories.
Everything else is the same: the same interpreter, the same `entry()`.

    python -m capsa.runtime.launcher [PATH]   (default: capsa-runtime next to python)

It also builds the code pack the launcher loads the runtime's modules from (see
capsa.runtime.codepack), under sys.prefix/share/capsa. scripts/setup.sh runs it after
installing; a plain `pip install` keeps pip's script, which works the same, only slower
to start.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from capsa.errors import CapsaError, InvalidArgument

TEMPLATE = """\
#!{python} -SP
# {name}, written by `python -m {writer}`: pip's console script
# with Python's `site` left out (these are the paths it would add), and the
# modules of its usual path read from one code pack.
{preamble}import sys
sys.path += {paths!r}
from capsa.runtime import codepack
codepack.install({pack!r})
from {module} import {function}
{call}
"""


def import_paths() -> list[str]:
    """Where capsa and the packages installed with it are imported from, in order."""
    import site

    import capsa

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(capsa.__file__)))
    paths = []
    for path in (package_parent, *site.getsitepackages()):
        if path not in paths and os.path.isdir(path):
            paths.append(path)
    return paths


def default_pack(kind: str = "runtime") -> str:
    tag = sys.implementation.cache_tag
    return os.path.join(sys.prefix, "share", "capsa", f"{kind}-{tag}.pack")


def launcher_text(
    python: str,
    paths: list[str],
    pack: str,
    *,
    name: str = "capsa-runtime",
    writer: str = "capsa.runtime.launcher",
    entry: tuple[str, str, str] = ("capsa.runtime.cli", "entry", "entry()"),
    collect: bool = False,
) -> str:
    """The launcher's text; `entry` is (module, function, the line that calls it).
    Without `collect`, the cyclic garbage collector is off from the first line (as
    capsa.runtime.cli.main turns it off): the imports before main() would otherwise
    run a dozen collections (~0.7 ms a container start)."""
    if not os.path.isabs(python) or any(c in python for c in " \t\n"):
        raise InvalidArgument(
            f"cannot write a launcher for {python!r}: a #! line needs an absolute path "
            "without blanks",
            hint="keep pip's console script for such an interpreter",
        )
    module, function, call = entry
    return TEMPLATE.format(
        preamble="" if collect else "import gc\ngc.disable()\n",
        python=python,
        paths=paths,
        pack=pack,
        name=name,
        writer=writer,
        module=module,
        function=function,
        call=call,
    )


def write_launcher(path: str, python: str, paths: list[str], pack: str, **kind: Any) -> None:
    text = launcher_text(python, paths, pack, **kind)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o755)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise CapsaError(f"cannot write the launcher {path}: {exc.strerror}") from None


def build_pack(pack: str, modules: tuple[str, ...] | None = None) -> None:
    from capsa.runtime import codepack

    try:
        os.makedirs(os.path.dirname(pack), exist_ok=True)
        codepack.build(pack, modules or codepack.START_MODULES)
    except (OSError, SyntaxError) as exc:
        raise CapsaError(f"cannot build the code pack {pack}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        sys.stderr.write("usage: python -m capsa.runtime.launcher [PATH]\n")
        return 2
    python = sys.executable
    path = args[0] if args else os.path.join(os.path.dirname(python), "capsa-runtime")
    pack = default_pack()
    try:
        build_pack(pack)
        write_launcher(path, python, import_paths(), pack)
    except CapsaError as exc:
        sys.stderr.write(f"capsa.runtime.launcher: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
