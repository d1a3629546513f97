"""The registry commands (`capsa pull`, `push`, `login`, `logout`, `search`): parse, call
the registry transport and the store, print as Docker prints. Each takes its arguments
without the command name."""

from __future__ import annotations

import getpass
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from capsa.cli._images import Parser, familiar, open_store, table, truncate
from capsa.errors import CapsaError, InvalidArgument, NotFound

if TYPE_CHECKING:
    import argparse

    from capsa.oci.reference import Reference
    from capsa.store.store import Store
    from capsa.transport.registry.connect import RegistryOptions

_TRANSPORT_PREFIXES = ("docker://", "oci:", "oci-archive:", "docker-archive:")


def _registry_flags(parser: Parser) -> None:
    parser.add_argument(
        "--tls-verify",
        default=None,
        metavar="BOOL",
        help="require HTTPS with a trusted certificate (default: yes, except for "
        "registries.conf's insecure registries and localhost)",
    )
    parser.add_argument("--authfile", help="the credentials file to use")
    parser.add_argument("--cert-dir", help="CA certificates (*.crt) and client keys to use")


def _flag_values(args: list[str]) -> list[str]:
    """`--tls-verify` alone means true; a value is given as `--tls-verify=false` (as in
    Podman), so the next argument is never taken for it."""
    return ["--tls-verify=true" if arg == "--tls-verify" else arg for arg in args]


def _options(parsed: argparse.Namespace) -> RegistryOptions:
    from capsa.transport.registry.connect import RegistryOptions

    options = RegistryOptions.from_environ()
    paths = options.paths.with_authfile(parsed.authfile).with_cert_dir(parsed.cert_dir)
    verify = None if parsed.tls_verify is None else _bool(parsed.tls_verify, "--tls-verify")
    creds = getattr(parsed, "creds", None)
    credentials = None
    if creds:
        from capsa.transport.registry.authfile import Credentials

        username, sep, password = creds.partition(":")
        if not sep and sys.stdin.isatty():
            password = getpass.getpass("Password: ")
        credentials = Credentials(username, password)
    return RegistryOptions(paths, tls_verify=verify, credentials=credentials)


def _bool(text: str, flag: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidArgument(f"invalid value {text!r} for {flag}", hint="true or false")


def _progress_out() -> Any:
    return sys.stdout


# -- pull ------------------------------------------------------------------------------------


def pull(args: list[str]) -> int:
    from capsa.oci.platform import parse_platform

    parser = Parser("pull", "Download an image from a registry")
    parser.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    parser.add_argument("-a", "--all-tags", action="store_true", help="every tagged image")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    parser.add_argument("--platform", help="os[/arch[/variant]] of a multi-platform image")
    parser.add_argument("--creds", metavar="USER[:PASSWORD]", help="credentials to use")
    _registry_flags(parser)
    parsed = parser.parse_args(_flag_values(args))
    options = _options(parsed)
    platform = parse_platform(parsed.platform) if parsed.platform else None
    out = sys.stdout
    tty = out.isatty()
    candidates = _pull_candidates(parsed.image, options)
    if parsed.all_tags and _has_tag_or_digest(parsed.image):
        raise InvalidArgument(
            f"tag can't be used with --all-tags/-a: {parsed.image}",
            hint="give the repository name only",
        )
    if not parsed.quiet and not _has_tag_or_digest(parsed.image) and not parsed.all_tags:
        out.write("Using default tag: latest\n")
    with _store_of(parsed.root) as store:
        if parsed.all_tags:
            reference = candidates[0].without_tag_or_digest()
            tags = _tags(reference, options)
            if not tags:
                raise NotFound(f"repository {reference.name} has no tags")
            if not parsed.quiet:
                out.write(f"Pulling all tags of {reference.familiar_name()}\n")
            for tag in tags:
                _pull_one(store, reference.with_tag(tag), options, platform, parsed.quiet, tty)
            if parsed.quiet:
                out.write(f"{reference.name}\n")
            return 0
        reference = _pull_first(store, candidates, options, platform, parsed.quiet, tty)
    out.write(f"{reference}\n")
    return 0


def _has_tag_or_digest(text: str) -> bool:
    last = text.rsplit("/", 1)[-1]
    return ":" in last or "@" in text


def _pull_candidates(text: str, options: RegistryOptions) -> list[Reference]:
    """What a name means: itself when it names a registry; a short name through
    registries.conf's aliases, then each unqualified-search registry (Podman), else
    Docker Hub (Docker)."""
    from capsa.oci.reference import parse_reference
    from capsa.transport.registry.names import is_short_name

    if not is_short_name(text):
        return [parse_reference(text)]
    conf = options.registries()
    bare = re.split(r"[:@]", text, maxsplit=1)[0]
    alias = conf.aliases.get(bare)
    if alias:
        return [parse_reference(alias + text[len(bare) :])]
    if conf.search:
        return [parse_reference(f"{registry}/{text}") for registry in conf.search]
    return [parse_reference(text)]


def _tags(reference: Reference, options: RegistryOptions) -> list[str]:
    from capsa.transport.registry.connect import clients

    failure: CapsaError | None = None
    for client in clients(reference.domain, reference.path, options, by_digest=False, pull=True):
        try:
            return client.tags()
        except CapsaError as exc:
            failure = failure or exc
        finally:
            client.session.close()
    assert failure is not None
    raise failure


def _pull_first(
    store: Store,
    candidates: list[Reference],
    options: RegistryOptions,
    platform: Any,
    quiet: bool,
    tty: bool,
) -> Reference:
    failures: list[CapsaError] = []
    for reference in candidates:
        try:
            _pull_one(store, reference, options, platform, quiet, tty)
            return reference
        except NotFound as exc:
            if len(candidates) == 1:
                raise
            failures.append(exc)
    tried = ", ".join(str(c) for c in candidates)
    last = failures[-1].message
    raise NotFound(
        f"image not found in any unqualified-search registry (tried {tried}): {last}",
        hint="give the full name, registry included",
    )


def _pull_one(
    store: Store,
    reference: Reference,
    options: RegistryOptions,
    platform: Any,
    quiet: bool,
    tty: bool,
) -> None:
    from capsa.cli._progress import PULL, LayerProgress
    from capsa.transport.copy import copy_image
    from capsa.transport.registry.source import RegistrySource
    from capsa.transport.store.dest import StoreDestination

    out = sys.stdout
    source = RegistrySource(reference, options)
    name = str(reference)
    try:
        before = _existing(store, name)
        if not quiet:
            label = reference.tag or str(reference.digest)
            out.write(f"{label}: Pulling from {_repository_shown(reference)}\n")
            out.flush()
        progress = LayerProgress(out, PULL, tty=tty, quiet=quiet)
        destination = StoreDestination(store, name, description=f"the store at {store.root}")
        try:
            copy_image(source, destination, platform=platform, progress=progress, jobs=options.jobs)
        except BaseException:
            destination.abort()
            raise
        destination.close()
        progress.finish()
    finally:
        source.close()
    record = destination.committed[-1]
    if not quiet:
        out.write(f"Digest: {source.manifest.digest}\n")
        shown = familiar(str(reference))
        if before == record.id:
            out.write(f"Status: Image is up to date for {shown}\n")
        else:
            out.write(f"Status: Downloaded newer image for {shown}\n")


def _existing(store: Store, name: str) -> str | None:
    try:
        return store.metadata.resolve_image(name).id
    except NotFound:
        return None


def _repository_shown(reference: Reference) -> str:
    """`latest: Pulling from library/busybox`: the path on Docker Hub, else the name."""
    from capsa.oci.reference import DEFAULT_DOMAIN

    return reference.path if reference.domain == DEFAULT_DOMAIN else reference.name


class _store_of:
    def __init__(self, root: str | None) -> None:
        self._root = root

    def __enter__(self) -> Store:
        self._store = open_store(self._root)
        return self._store

    def __exit__(self, *exc: object) -> None:
        self._store.close()


# -- push ------------------------------------------------------------------------------------


def push(args: list[str]) -> int:
    from capsa.cli._progress import PUSH, LayerProgress
    from capsa.oci.reference import parse_reference
    from capsa.transport.copy import copy_image
    from capsa.transport.store.find import find_image
    from capsa.transport.store.source import StoreSource

    parser = Parser("push", "Upload an image to a registry")
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("destination", nargs="?", metavar="DESTINATION")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image name")
    parser.add_argument("--creds", metavar="USER[:PASSWORD]", help="credentials to use")
    parser.add_argument(
        "--chunk-size", type=int, metavar="BYTES", help="upload blobs in chunks of this size"
    )
    _registry_flags(parser)
    parsed = parser.parse_args(_flag_values(args))
    options = _options(parsed)
    if parsed.chunk_size is not None:
        if parsed.chunk_size <= 0:
            raise InvalidArgument("--chunk-size must be a positive number of bytes")
        from dataclasses import replace

        options = replace(options, chunk_size=parsed.chunk_size)
    target = parsed.destination or parsed.image
    out = sys.stdout
    with _store_of(parsed.root) as store:
        record, found_by = find_image(store.metadata, parsed.image)
        source = StoreSource(store, parsed.image)
        if target.startswith(_TRANSPORT_PREFIXES) and not target.startswith("docker://"):
            return _push_to_transport(source, target)
        reference = parse_reference(target.removeprefix("docker://"))
        if parsed.destination is None and found_by is None:
            raise InvalidArgument(
                f"cannot push image {parsed.image}: an image ID names no repository",
                hint="give a destination: capsa push IMAGE REGISTRY/NAME[:TAG]",
            )
        mount_from = _mount_candidates(record.names, reference)
        progress = LayerProgress(out, PUSH, tty=out.isatty(), quiet=parsed.quiet)
        if not parsed.quiet:
            out.write(f"The push refers to repository [{reference.name}]\n")
            out.flush()
        from capsa.transport.registry.dest import RegistryDestination

        destination = RegistryDestination(
            reference, options, mount_from=mount_from, events=progress.event
        )
        try:
            top = copy_image(source, destination, progress=progress, jobs=options.jobs)
        except BaseException:
            destination.abort()
            raise
        destination.close()
    if parsed.quiet:
        out.write(f"{reference}\n")
    else:
        label = reference.tag or str(reference.digest)
        out.write(f"{label}: digest: {top.digest} size: {top.size}\n")
    return 0


def _mount_candidates(names: tuple[str, ...], target: Reference) -> list[str]:
    """Repositories of the same registry that the image came from or went to: the
    registry may link the blobs from there instead of receiving them again."""
    from capsa.oci.reference import parse_exact

    found: list[str] = []
    for name in names:
        try:
            other = parse_exact(name)
        except InvalidArgument:
            continue
        if other.domain == target.domain and other.path != target.path:
            found.append(other.path)
    return list(dict.fromkeys(found))


def _push_to_transport(source: Any, target: str) -> int:
    from capsa.transport.copy import copy_image
    from capsa.transport.open import writing

    with writing(target) as destination:
        copy_image(source, destination, name=source.found_by)
    return 0


# -- login, logout ---------------------------------------------------------------------------


def login(args: list[str]) -> int:
    from capsa.transport.registry import authfile
    from capsa.transport.registry.authfile import Credentials
    from capsa.transport.registry.client import check_login
    from capsa.transport.registry.connect import session_for
    from capsa.transport.registry.names import DOCKER_HUB, canonical_host, check_host

    parser = Parser("login", "Log in to a registry")
    parser.add_argument("server", nargs="?", metavar="SERVER", default=DOCKER_HUB)
    parser.add_argument("-u", "--username")
    parser.add_argument("-p", "--password")
    parser.add_argument("--password-stdin", action="store_true", help="read the password")
    _registry_flags(parser)
    parsed = parser.parse_args(_flag_values(args))
    options = _options(parsed)
    host = check_host(canonical_host(parsed.server))
    if parsed.password is not None and parsed.password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    username = parsed.username
    if parsed.password_stdin:
        if not username:
            raise InvalidArgument(
                "must provide --username with --password-stdin", hint="give -u USER"
            )
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        if parsed.password is not None:
            sys.stderr.write(
                "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
            )
        if not username:
            if not sys.stdin.isatty():
                raise InvalidArgument(
                    "cannot ask for a username: standard input is not a terminal",
                    hint="give -u USER",
                )
            sys.stdout.write("Username: ")
            sys.stdout.flush()
            username = sys.stdin.readline().strip()
        password = parsed.password
        if password is None:
            if not sys.stdin.isatty():
                raise InvalidArgument(
                    "cannot ask for a password: standard input is not a terminal",
                    hint="give --password-stdin and pipe the password in",
                )
            password = getpass.getpass("Password: ")
    if not username:
        raise InvalidArgument("no username given", hint="give -u USER")
    if not password:
        raise InvalidArgument("no password given", hint="give -p or --password-stdin")
    credentials = Credentials(username, password)
    session = session_for(host, options, credentials=credentials)
    try:
        check_login(session)
    finally:
        session.close()
    authfile.store(options.paths.auth_write, host, credentials)
    sys.stdout.write("Login Succeeded\n")
    return 0


def logout(args: list[str]) -> int:
    from capsa.transport.registry import authfile
    from capsa.transport.registry.names import DOCKER_HUB, canonical_host

    parser = Parser("logout", "Log out of a registry")
    parser.add_argument("server", nargs="?", metavar="SERVER")
    parser.add_argument("-a", "--all", action="store_true", help="every registry")
    parser.add_argument("--authfile", help="the credentials file to use")
    parsed = parser.parse_args(_flag_values(args))
    from capsa.transport.registry.paths import RegistryPaths

    paths = RegistryPaths.from_environ().with_authfile(parsed.authfile)
    if parsed.all:
        if parsed.server:
            raise InvalidArgument("--all takes no server", hint="give one or the other")
        for path in paths.auth_files:
            authfile.remove_all(path)
        sys.stdout.write("Removed login credentials for all registries\n")
        return 0
    server = parsed.server or DOCKER_HUB
    host = canonical_host(server)
    removed = [path for path in paths.auth_files if authfile.remove(path, host)]
    if removed:
        sys.stdout.write(f"Removing login credentials for {server}\n")
    else:
        sys.stdout.write(f"Not logged in to {server}\n")
    return 0


# -- search ----------------------------------------------------------------------------------

_SEARCH_FIELDS = {
    "Name": "NAME",
    "Description": "DESCRIPTION",
    "StarCount": "STARS",
    "IsOfficial": "OFFICIAL",
    "IsAutomated": "AUTOMATED",
}
_FIELD = re.compile(r"\{\{\s*(json\s+)?\.(\w*)\s*\}\}")


def search(args: list[str]) -> int:
    parser = Parser("search", "Search a registry for images")
    parser.add_argument("term", metavar="[REGISTRY/]TERM")
    parser.add_argument("--limit", type=int, default=25, help="at most this many results")
    parser.add_argument("--format", default="table", help="table, json or a Go template")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    _registry_flags(parser)
    parsed = parser.parse_args(_flag_values(args))
    if parsed.limit < 1 or parsed.limit > 100:
        raise InvalidArgument(f"invalid --limit {parsed.limit}", hint="between 1 and 100")
    options = _options(parsed)
    results = _search(parsed.term, parsed.limit, options)
    sys.stdout.write(_format_search(results, parsed.format, parsed.no_trunc))
    return 0


def _search(term: str, limit: int, options: RegistryOptions) -> list[dict[str, Any]]:
    from capsa.transport.registry.names import DOCKER_HUB, canonical_host, is_short_name

    if is_short_name(term):
        registries = list(options.registries().search) or [DOCKER_HUB]
        words = term
    else:
        first, _, words = term.partition("/")
        registries = [canonical_host(first)]
    results: list[dict[str, Any]] = []
    failure: CapsaError | None = None
    for host in registries:
        try:
            results.extend(_search_registry(host, words, limit, options))
        except CapsaError as exc:
            failure = failure or exc
    if not results and failure is not None:
        raise failure
    return results[:limit]


def _search_registry(
    host: str, words: str, limit: int, options: RegistryOptions
) -> list[dict[str, Any]]:
    """Docker Hub's search API where there is one, else the catalog's names that contain
    the term (as containers/image does)."""
    from capsa.transport.registry.client import catalog, search_v1
    from capsa.transport.registry.connect import session_for
    from capsa.transport.registry.names import DOCKER_HUB, DOCKER_HUB_INDEX

    index = DOCKER_HUB_INDEX if host == DOCKER_HUB else host
    session = session_for(host, options, api=index)
    try:
        found = search_v1(session, words, limit)
        if found is not None:
            return [
                {
                    "Index": host,
                    "Name": str(r.get("name", "")),
                    "Description": str(r.get("description", "") or ""),
                    "StarCount": int(r.get("star_count", 0) or 0),
                    "IsOfficial": bool(r.get("is_official", False)),
                    "IsAutomated": bool(r.get("is_automated", False)),
                }
                for r in found
            ]
    finally:
        session.close()
    session = session_for(host, options)
    try:
        names = catalog(session)
    finally:
        session.close()
    wanted = words.lower()
    return [
        {
            "Index": host,
            "Name": f"{host}/{name}",
            "Description": "",
            "StarCount": 0,
            "IsOfficial": False,
            "IsAutomated": False,
        }
        for name in names
        if wanted in name.lower()
    ][:limit]


def _format_search(results: list[dict[str, Any]], text: str, no_trunc: bool) -> str:
    def shown(result: dict[str, Any], key: str) -> str:
        value = result.get(key, "")
        if key == "Description" and not no_trunc:
            return truncate(str(value), 45)
        if key == "IsOfficial":
            return "[OK]" if value else ""
        if key == "IsAutomated":
            return "[OK]" if value else ""
        return str(value)

    if text == "table":
        rows = [["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]]
        rows += [
            [shown(r, k) for k in ("Name", "Description", "StarCount", "IsOfficial")]
            for r in results
        ]
        return table(rows)
    if text == "json":
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in results)
    template = text.replace("\\t", "\t").replace("\\n", "\n")
    header = template.startswith("table ")
    if header:
        template = template[len("table ") :]

    def render(result: dict[str, Any] | None) -> str:
        def field(match: re.Match[str]) -> str:
            as_json, key = match.group(1), match.group(2)
            if result is None:
                return _SEARCH_FIELDS.get(key, key.upper())
            if as_json:
                return json.dumps(result if not key else result.get(key), sort_keys=True)
            if key not in result:
                raise InvalidArgument(
                    f"invalid --format: no field .{key}",
                    hint=f"fields: {', '.join('.' + k for k in _SEARCH_FIELDS)}",
                )
            value = result[key]
            return str(value).lower() if isinstance(value, bool) else str(value)

        return _FIELD.sub(field, template)

    lines = [render(r) for r in results]
    if header:
        lines.insert(0, render(None))
        return table([line.split("\t") for line in lines])
    return "".join(line + "\n" for line in lines)
