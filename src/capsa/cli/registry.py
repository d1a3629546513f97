"""capsa registry: run an OCI distribution registry (`serve`) and collect the garbage of
its storage directory (`gc`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from capsa.errors import InvalidArgument

USAGE = """\
usage: capsa registry COMMAND [ARGS...]

Commands:
  serve   serve an OCI distribution registry from a storage directory
  gc      remove blobs no manifest references from a storage directory
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, prog: str, description: str) -> None:
        super().__init__(prog=f"capsa registry {prog}", description=description, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        raise InvalidArgument(message, hint=f"see {self.prog} --help")


def _seconds(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `7d`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:], 0)
    number = text[:-1] if scale else text
    try:
        value = float(number) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 15m, 1h)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return value


def serve(args: list[str]) -> int:
    from capsa.registry.options import ServeOptions
    from capsa.registry.server import parse_address, serve

    parser = _Parser("serve", "Serve an OCI distribution registry (the whole distribution-spec).")
    parser.add_argument("--addr", default="127.0.0.1:5000", help="HOST:PORT to listen on")
    parser.add_argument("--storage", required=True, type=Path, help="the storage directory")
    parser.add_argument("--tls-cert", type=Path, help="serve https with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument("--htpasswd", type=Path, help="users, as htpasswd -B writes them")
    parser.add_argument("--auth", choices=("basic", "token"), help="how users log in")
    parser.add_argument("--realm", help="the basic realm, or the token endpoint's URL")
    parser.add_argument("--service", default="capsa-registry", help="the token service name")
    parser.add_argument("--read-only", action="store_true", help="refuse pushes and deletes")
    parser.add_argument(
        "--namespace-per-user",
        action="store_true",
        help="a user may push and delete only under their own name (alice/...)",
    )
    parser.add_argument(
        "--upload-timeout", type=_seconds, default=3600.0, help="drop uploads idle this long"
    )
    parser.add_argument("--max-uploads", type=int, default=512, help="uploads open at once")
    parser.add_argument("--gc-interval", type=_seconds, help="collect garbage this often")
    parser.add_argument("--gc-grace", type=_seconds, default=3600.0, help="keep younger blobs")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    options = parser.parse_args(args)
    host, port = parse_address(options.addr)
    auth = options.auth or ("basic" if options.htpasswd else None)
    serve_options = ServeOptions(
        storage=options.storage.absolute(),
        host=host,
        port=port,
        tls_cert=options.tls_cert,
        tls_key=options.tls_key,
        htpasswd=options.htpasswd,
        auth=auth,
        realm=options.realm,
        service=options.service,
        read_only=options.read_only,
        namespace_per_user=options.namespace_per_user,
        upload_timeout=options.upload_timeout,
        max_uploads=options.max_uploads,
        gc_interval=options.gc_interval,
        gc_grace=options.gc_grace,
        access_log=options.access_log,
    )
    serve_options.check()
    scheme = "https" if options.tls_cert else "http"
    sys.stderr.write(
        f"capsa registry: serving {scheme}://{options.addr} from {serve_options.storage}\n"
    )
    sys.stderr.flush()
    serve(serve_options)
    return 0


def gc(args: list[str]) -> int:
    from capsa.registry.gc import collect
    from capsa.registry.storage import RegistryStorage

    parser = _Parser("gc", "Remove blobs that no manifest of any repository references.")
    parser.add_argument("storage", type=Path, help="the storage directory")
    parser.add_argument(
        "--grace", type=_seconds, default=3600.0, help="keep blobs younger than this (1h)"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    parser.add_argument(
        "--delete-untagged", action="store_true", help="also remove manifests no tag reaches"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    options = parser.parse_args(args)
    if not (options.storage / "repositories").is_dir():
        raise InvalidArgument(
            f"{options.storage} is not a registry storage directory",
            hint="give the --storage directory of capsa registry serve",
        )
    report = collect(
        RegistryStorage(options.storage),
        grace=options.grace,
        dry_run=options.dry_run,
        delete_untagged=options.delete_untagged,
    )
    if not options.quiet:
        verb = "would remove" if options.dry_run else "removed"
        for name, digest in report.manifests:
            sys.stdout.write(f"{verb} manifest {name}@{digest}\n")
        for digest in report.blobs:
            sys.stdout.write(f"{verb} blob {digest}\n")
        sys.stdout.write(
            f"{verb} {len(report.blobs)} blobs ({report.freed} bytes), "
            f"{len(report.manifests)} manifests, {report.uploads} abandoned uploads\n"
        )
    return 0


def run(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 125
    commands = {"serve": serve, "gc": gc}
    command = commands.get(args[0])
    if command is None:
        raise InvalidArgument(f"unknown command registry {args[0]!r}", hint="serve or gc")
    return command(args[1:])
