"""`capsa build`: a Dockerfile's needed stages built in order (independent ones side by
side), each instruction applied to the stage's image state, each layer-making step
(RUN, COPY, ADD) looked up in the layer cache first and run only on a miss; the target
stage recorded as an image in the store under its tags.

A step's cache key chains its parent's key with the instruction as expanded and what it
reads, so a changed file invalidates its step and those after it, and nothing before.
Config-only steps change the key but make no layer. Times: a fully cached build gives
the same image (its times are those of the steps that made the layers); with
SOURCE_DATE_EPOCH every time is that one, so two builds of one context give one digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from capsa.build.cache import BuildCache, CachedLayer, step_key
from capsa.build.context import (
    BuildContext,
    Source,
    clean_source,
    content_hash,
    destination_path,
    match_sources,
)
from capsa.build.dockerfile import Dockerfile, Instruction, parse
from capsa.build.instructions import (
    CONFIG_ONLY,
    apply_config,
    command_form,
    env_map,
    fail,
    shell_of,
)
from capsa.build.shellwords import arg_definitions, expand, expand_heredoc, expand_words
from capsa.build.stages import Plan, Stage, find_stage, plan_stages
from capsa.errors import CapsaError, InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.platform import Platform, host_platform
from capsa.times import rfc3339

if TYPE_CHECKING:
    from concurrent.futures import Future

    from capsa.build.container import WorkingContainer
    from capsa.build.mounts import RunMount, Secret
    from capsa.engine.spec import MountSpec
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Lease, Store

# Docker's predefined ARGs: usable without an ARG line, kept out of the history.
PROXY_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)
LAYER_STEPS = frozenset({"RUN", "COPY", "ADD"})
INLINE_CACHE = "capsa.build.cache.v0"  # the image config's field listing its steps' keys


class Progress(Protocol):
    """Where a build reports; called from the build's threads (implementations lock)."""

    def step(self, stage: str, number: int, total: int, text: str) -> None: ...
    def cached(self, stage: str) -> None: ...
    def done(self, stage: str, seconds: float) -> None: ...
    def output(self, stage: str, data: bytes) -> None: ...
    def warning(self, text: str) -> None: ...


@dataclass
class BuildOptions:
    dockerfile: Dockerfile
    context: BuildContext
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    cache_from: list[str] = field(default_factory=list)
    platform: Platform | None = None
    secrets: dict[str, Secret] = field(default_factory=dict)
    network: str = "default"
    source_date_epoch: int | None = None
    pull: Callable[[str], None] | None = None  # fetches a missing base image


@dataclass(frozen=True)
class LayerRef:
    chain: str
    diff_id: str
    digest: str
    size: int
    media_type: str


@dataclass
class ImageState:
    """A stage's image as its instructions so far made it."""

    config: dict[str, Any]
    layers: list[LayerRef]
    history: list[dict[str, Any]]
    key: str
    created: str
    cmd_inherited: bool = True
    args: dict[str, str | None] = field(default_factory=dict)  # the stage's ARGs in scope
    steps: list[tuple[str, int | None]] = field(default_factory=list)  # key, layer index

    def add_step(self, key: str, layer: LayerRef | None) -> None:
        """A layer step's result: its layer (None when it changed nothing)."""
        self.key = key
        if layer is not None:
            self.layers.append(layer)
        self.steps.append((key, len(self.layers) - 1 if layer is not None else None))

    @property
    def chain(self) -> str | None:
        return self.layers[-1].chain if self.layers else None


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    names: tuple[str, ...]
    steps: int
    cached: int


def automatic_args(platform: Platform) -> dict[str, str]:
    text = f"{platform.os}/{platform.architecture}" + (
        f"/{platform.variant}" if platform.variant else ""
    )
    values = {}
    for prefix in ("TARGET", "BUILD"):
        values[f"{prefix}PLATFORM"] = text
        values[f"{prefix}OS"] = platform.os
        values[f"{prefix}ARCH"] = platform.architecture
        values[f"{prefix}VARIANT"] = platform.variant
    return values


class Builder:
    def __init__(self, store: Store, options: BuildOptions, progress: Progress) -> None:
        self.store = store
        self.options = options
        self.progress = progress
        self.dockerfile = options.dockerfile
        self.filename = options.dockerfile.filename
        self.escape = options.dockerfile.escape
        self.platform = _check_platform(options.platform)
        self.auto_args = automatic_args(self.platform)
        self.cache = BuildCache(store)
        self.work_root = str(store.root / "build" / os.urandom(6).hex())
        self._lease: Lease | None = None
        self._lock = threading.Lock()
        self.used_args: set[str] = set()
        self.results: dict[int, ImageState] = {}
        self.imported: dict[str, CachedLayer] = {}  # --cache-from
        self.steps = 0
        self.cached_steps = 0
        self.plan: Plan | None = None

    # -- the whole build ------------------------------------------------------------

    def build(self) -> BuildResult:
        plan = plan_stages(
            self.dockerfile, self.options.build_args, self.options.target, self.auto_args
        )
        self.plan = plan
        self.used_args.update(k for k in plan.global_args if k in self.options.build_args)
        lease = self.store.lease(labels={"capsa.operation": "build"})
        self._lease = lease
        try:
            if not self.options.no_cache:
                self._import_cache(self.options.cache_from)
            self._build_stages(plan)
            state = self.results[plan.target.index]
            record = self._record_image(state, lease)
        finally:
            shutil.rmtree(self.work_root, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(self.work_root))
            lease.release()
            self.cache.close()
        unused = sorted(
            set(self.options.build_args)
            - self.used_args
            - PROXY_ARGS
            - {"SOURCE_DATE_EPOCH", "BUILDKIT_INLINE_CACHE", "BUILDKIT_DOCKERFILE_CHECK"}
        )
        if unused:
            self.progress.warning(f"one or more build args were not consumed: {', '.join(unused)}")
        return BuildResult(record.id, record.names, self.steps, self.cached_steps)

    def _build_stages(self, plan: Plan) -> None:
        pending = list(plan.order)
        if len(pending) == 1:
            self.results[pending[0].index] = self._build_stage(pending[0])
            return
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        running: dict[Future[ImageState], Stage] = {}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="capsa-build") as pool:
            try:
                while pending or running:
                    for stage in list(pending):
                        if all(n in self.results for n in stage.needs) and len(running) < 2:
                            pending.remove(stage)
                            running[pool.submit(self._build_stage, stage)] = stage
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        stage = running.pop(future)
                        self.results[stage.index] = future.result()
            except BaseException:
                for future in running:
                    future.cancel()
                raise

    # -- one stage ------------------------------------------------------------------

    def _build_stage(self, stage: Stage) -> ImageState:
        state = self._base_state(stage)
        triggers = list(state.config.get("OnBuild") or [])
        state.config.pop("OnBuild", None)
        instructions = list(stage.instructions)
        if triggers:
            # A trigger is parsed as what follows a FROM (the parser wants one first).
            text = "FROM scratch\n" + "\n".join(triggers)
            onbuild = parse(text, filename=f"{stage.base} (ONBUILD)").instructions[1:]
            instructions = [*onbuild, *instructions]
        total = len(instructions) + 1
        shown = f"FROM {stage.base}" + (f" AS {stage.name}" if stage.name else "")
        self.progress.step(stage.label, 1, total, shown)
        for number, instruction in enumerate(instructions, start=2):
            self.progress.step(stage.label, number, total, _describe(instruction))
            started = time.monotonic()
            cached = self._apply(stage, state, instruction)
            with self._lock:
                self.steps += 1
                self.cached_steps += int(cached)
            if cached:
                self.progress.cached(stage.label)
            elif instruction.keyword in LAYER_STEPS:
                self.progress.done(stage.label, time.monotonic() - started)
        return state

    def _base_state(self, stage: Stage) -> ImageState:
        assert self.plan is not None
        created = self._time(None)
        base = stage.base
        if base.lower() == "scratch":
            config: dict[str, Any] = {"Env": []}
            return ImageState(config, [], [], step_key("scratch", str(self.platform)), created)
        parent_stage = find_stage(self.plan.stages, base, stage.index)
        if parent_stage is not None:
            parent = self.results[parent_stage.index]
            return replace(
                parent,
                config=json.loads(json.dumps(parent.config)),
                layers=list(parent.layers),
                history=list(parent.history),
                steps=list(parent.steps),
                args={},
                cmd_inherited=True,
            )
        record = self._find_image(base, stage.origin)
        document = json.loads(self.store.content.read_verified(record.id, max_size=16 << 20))
        manifest = json.loads(
            self.store.content.read_verified(record.manifest_digest, max_size=16 << 20)
        )
        diff_ids = document.get("rootfs", {}).get("diff_ids") or []
        layers = [
            LayerRef(chain, diff_id, d["digest"], int(d["size"]), d.get("mediaType", ""))
            for chain, diff_id, d in zip(record.layers, diff_ids, manifest["layers"], strict=True)
        ]
        config = dict(document.get("config") or {})
        return ImageState(
            config,
            layers,
            list(document.get("history") or []),
            step_key("image", record.id),
            str(document.get("created") or created)
            if self.options.source_date_epoch is None
            else created,
        )

    def _find_image(self, name: str, origin: Instruction | None) -> ImageRecord:
        from capsa.transport.store.find import find_image

        try:
            return find_image(self.store.metadata, name)[0]
        except NotFound:
            if self.options.pull is None:
                raise
        try:
            self.options.pull(name)
        except CapsaError as exc:
            where = f"{self.filename}:{origin.line}: FROM" if origin else "--cache-from"
            raise NotFound(
                f"{where} {name}: the image is not here and pulling it failed: {exc}",
                hint="capsa pull or capsa load it first (capsa image default gives busybox)",
            ) from None
        return find_image(self.store.metadata, name)[0]

    # -- instructions -----------------------------------------------------------------

    def _lookup(self, state: ImageState) -> Callable[[str], str | None]:
        env = env_map(state.config)

        def lookup(name: str) -> str | None:
            if name in env:
                return env[name]
            if name in state.args:
                return state.args[name]
            return None

        return lookup

    def _apply(self, stage: Stage, state: ImageState, instruction: Instruction) -> bool:
        """Apply one instruction to `state`; True when its result came from the cache."""
        keyword = instruction.keyword
        if keyword == "ARG":
            self._arg(state, instruction)
            return False
        if keyword in CONFIG_ONLY:
            config, history = apply_config(
                instruction,
                state.config,
                self._lookup(state),
                filename=self.filename,
                escape=self.escape,
                cmd_inherited=state.cmd_inherited,
            )
            if keyword == "CMD":
                state.cmd_inherited = False
            state.config = config
            state.key = step_key(state.key, keyword, config)  # what the step made of it
            state.history.append(
                {"created": state.created, "created_by": history, "empty_layer": True}
            )
            return False
        if keyword == "RUN":
            return self._run(stage, state, instruction)
        if keyword in ("COPY", "ADD"):
            return self._copy(stage, state, instruction)
        if keyword == "FROM":
            raise fail(instruction, self.filename, "cannot appear here")
        raise fail(instruction, self.filename, "is not supported")

    def _arg(self, state: ImageState, instruction: Instruction) -> None:
        assert self.plan is not None
        lookup = self._lookup(state)
        for name, default in arg_definitions(instruction.text, lookup, escape=self.escape):
            if name in self.options.build_args:
                value: str | None = self.options.build_args[name]
                self.used_args.add(name)
            elif default is not None:
                value = default
            elif name in self.plan.global_args:
                value = self.plan.global_args[name]
            else:
                value = self.auto_args.get(name)
            state.args[name] = value
            state.key = step_key(state.key, "ARG", name, value)

    def _run_env(self, state: ImageState) -> list[str]:
        """The environment of a RUN: the image's Env over the ARGs in scope."""
        values: dict[str, str] = {}
        for name, value in state.args.items():
            if value is not None:
                values[name] = value
        for name in PROXY_ARGS & set(self.options.build_args):
            values.setdefault(name, self.options.build_args[name])
            self.used_args.add(name)
        values.update(env_map(state.config))
        return [f"{k}={v}" for k, v in values.items()]

    def _history_args(self, state: ImageState) -> str:
        shown = [(k, v) for k, v in state.args.items() if v is not None and k not in PROXY_ARGS]
        if not shown:
            return ""
        return f"|{len(shown)} " + " ".join(f"{k}={v}" for k, v in shown) + " "

    # -- RUN ----------------------------------------------------------------------------

    def _run(self, stage: Stage, state: ImageState, instruction: Instruction) -> bool:
        argv, script = self._run_argv(state, instruction)
        network = instruction.flag("network") or self.options.network
        if network not in ("default", "none", "host"):
            raise fail(
                instruction,
                self.filename,
                f"--network={network} is not known",
                "use default, none or host",
            )
        security = instruction.flag("security")
        if security not in (None, "sandbox"):
            raise fail(instruction, self.filename, f"--security={security} is not supported here")
        mounts = [self._parse_mount(instruction, text) for text in instruction.flag_values("mount")]
        env = self._run_env(state)
        mount_keys = [self._mount_key(stage, state, m) for m in mounts]
        user = state.config.get("User") or ""
        workdir = state.config.get("WorkingDir") or "/"
        key = step_key(
            state.key, "RUN", argv, script, sorted(env), user, workdir, network, mount_keys
        )
        created_by = f"RUN {self._history_args(state)}{' '.join(argv)} # buildkit"
        hit = self._cached(key)
        if hit is not None:
            self._add_layer(state, hit, key, created_by)
            return True
        from capsa.build.container import RunRequest, WorkingContainer

        assert self._lease is not None
        container = WorkingContainer(self.store, state.chain, self.work_root, self._lease)
        try:
            with contextlib.ExitStack() as stack:
                specs = [
                    stack.enter_context(self._mount_spec(stage, m, container.dir)) for m in mounts
                ]
                for mount in mounts:
                    if mount.type == "secret" and mount.secret_env:
                        secret = self._secret(instruction, mount)
                        if secret is not None:
                            env.append(f"{mount.secret_env}={secret.read().decode()}")
                if script is not None:
                    specs.append(self._script_mount(container.dir, script))
                request = RunRequest(
                    args=argv,
                    env=env,
                    user=user,
                    workdir=workdir,
                    network=network,
                    mounts=[s for s in specs if s is not None],
                )
                tail: list[bytes] = []

                def output(data: bytes) -> None:
                    tail.append(data)
                    del tail[:-20]
                    self.progress.output(stage.label, data)

                try:
                    container.run(request, output)
                except CapsaError as exc:
                    from capsa.build.container import RunFailed

                    if isinstance(exc, RunFailed):
                        raise RunFailed(
                            f"{self.filename}:{instruction.line}: RUN {instruction.text!r} "
                            f"exited with status {exc.status}",
                            status=exc.status,
                            hint="its output is above",
                        ) from None
                    raise
            layer = self._commit(container, state, key, created_by)
        except BaseException:
            container.discard()
            raise
        container.cleanup_dir()
        state.add_step(key, layer)
        return False

    def _run_argv(
        self, state: ImageState, instruction: Instruction
    ) -> tuple[list[str], str | None]:
        """The command of a RUN, and the script file's text when a heredoc with its own
        interpreter (#!) is the whole command."""
        heredocs = instruction.heredocs
        if not heredocs:
            return command_form(instruction, state.config), None
        only = instruction.text.strip()
        first = heredocs[0]
        if len(heredocs) == 1 and only.lstrip("<-").strip("'\"") == first.name:
            content = first.content
            if content.startswith("#!"):
                return ["/dev/pipes/script"], content
            return [*shell_of(state.config), content], None
        # The shell reads the heredocs itself: give it the whole text.
        text = instruction.text
        for heredoc in heredocs:
            text += "\n" + heredoc.content + heredoc.name
        return [*shell_of(state.config), text], None

    def _script_mount(self, directory: str, script: str) -> MountSpec:
        from capsa.engine.spec import MountSpec

        path = os.path.join(directory, "script")
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, 0o755)
        return MountSpec(type="bind", target="/dev/pipes/script", source=path, readonly=True)

    def _parse_mount(self, instruction: Instruction, text: str) -> RunMount:
        from capsa.build.mounts import parse_run_mount

        try:
            return parse_run_mount(text)
        except InvalidArgument as exc:
            raise fail(instruction, self.filename, exc.message, exc.hint) from None

    def _secret(self, instruction: Instruction, mount: RunMount) -> Secret | None:
        secret = self.options.secrets.get(mount.cache_id)
        if secret is None and mount.required:
            raise fail(
                instruction,
                self.filename,
                f"the secret {mount.cache_id!r} is required and was not given",
                f"capsa build --secret id={mount.cache_id},src=FILE",
            )
        return secret

    def _mount_key(self, stage: Stage, state: ImageState, mount: RunMount) -> list[Any]:
        """What of a mount the step's result depends on (never a secret's content)."""
        base: list[Any] = [mount.type, mount.target, mount.source, mount.readonly]
        if mount.type == "bind":
            if mount.from_:
                base.append(self._from_key(stage, mount.from_))
            else:
                sources = match_sources(self.options.context.root, mount.source or ".")
                base.append(
                    content_hash(self.options.context.root, sources, self.options.context.ignored)
                )
        elif mount.type == "cache":
            base += [mount.cache_id, mount.sharing]
        elif mount.type == "secret":
            base += [mount.cache_id, mount.secret_env]
        return base

    @contextlib.contextmanager
    def _mount_spec(
        self, stage: Stage, mount: RunMount, directory: str
    ) -> Iterator[MountSpec | None]:
        from capsa.engine.spec import MountSpec

        if mount.type == "tmpfs":
            yield MountSpec(type="tmpfs", target=mount.target, tmpfs_size=mount.size)
        elif mount.type == "cache":
            from capsa.build.mounts import CacheMounts

            cache_mounts = CacheMounts(str(self.store.root / "build-mounts"))
            path, release = cache_mounts.directory(mount)
            with release:
                yield MountSpec(
                    type="bind", target=mount.target, source=path, readonly=mount.readonly
                )
        elif mount.type == "secret":
            secret = self.options.secrets.get(mount.cache_id)
            if secret is None:
                if mount.required:
                    raise InvalidArgument(
                        f"the secret {mount.cache_id!r} is required and was not given",
                        hint=f"capsa build --secret id={mount.cache_id},src=FILE",
                    )
                yield None
                return
            if not mount.target:
                yield None  # env= only
                return
            with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="capsa-secret-") as tmp:
                path = os.path.join(tmp, "secret")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(secret.read())
                os.chmod(path, mount.mode if mount.mode is not None else 0o400)
                os.chown(path, mount.uid, mount.gid)
                yield MountSpec(type="bind", target=mount.target, source=path, readonly=True)
        else:  # bind
            with self._source_root(stage, mount.from_) as root:
                source = os.path.join(root, clean_source(mount.source or "."))
                if not os.path.lexists(source):
                    raise NotFound(f"--mount {mount.source}: no such path in its source")
                if mount.readonly:
                    yield MountSpec(type="bind", target=mount.target, source=source, readonly=True)
                else:  # writes are thrown away: mount a copy
                    copy = os.path.join(directory, f"rw-{os.urandom(4).hex()}")
                    if os.path.isdir(source):
                        shutil.copytree(source, copy, symlinks=True)
                    else:
                        shutil.copy2(source, copy)
                    yield MountSpec(type="bind", target=mount.target, source=copy)

    # -- COPY and ADD -----------------------------------------------------------------

    def _copy(self, stage: Stage, state: ImageState, instruction: Instruction) -> bool:
        keyword = instruction.keyword
        lookup = self._lookup(state)
        if instruction.json is not None:
            words = [expand(w, lookup, escape=self.escape) for w in instruction.json]
        else:
            words = expand_words(instruction.text, lookup, escape=self.escape)
        heredoc_names = {h.name for h in instruction.heredocs}
        words = [
            w
            for w in words
            if not (w.startswith("<<") and w.lstrip("<-").strip("'\"") in heredoc_names)
        ]
        if instruction.heredocs:
            if not words:
                raise fail(instruction, self.filename, "needs a destination")
            sources_text, dest_text = [], words[-1]
        else:
            if len(words) < 2:
                raise fail(instruction, self.filename, "needs a source and a destination")
            sources_text, dest_text = words[:-1], words[-1]
        from_ref = instruction.flag("from")
        if from_ref and keyword == "ADD":
            raise fail(instruction, self.filename, "--from is only for COPY")
        workdir = state.config.get("WorkingDir") or "/"
        dest, dest_is_dir = destination_path(dest_text, workdir)
        chown = instruction.flag("chown")
        chmod_text = instruction.flag("chmod")
        chmod = None
        if chmod_text is not None:
            try:
                chmod = int(chmod_text, 8)
            except ValueError:
                raise fail(
                    instruction,
                    self.filename,
                    f"invalid --chmod {chmod_text!r}",
                    "use octal such as 0755",
                ) from None
        excludes = instruction.flag_values("exclude")
        link = instruction.has_flag("link") and instruction.flag("link") not in ("false", "0")
        parents = instruction.has_flag("parents") and instruction.flag("parents") not in (
            "false",
            "0",
        )
        checksum = instruction.flag("checksum")
        remote = [s for s in sources_text if _is_remote(s)]
        if remote and keyword == "COPY":
            raise fail(
                instruction, self.filename, f"cannot copy from a URL ({remote[0]})", "use ADD"
            )
        if remote and len(remote) != len(sources_text):
            raise fail(
                instruction,
                self.filename,
                "remote and local sources cannot be mixed",
                "give the remote ones an ADD of their own",
            )
        with self._source_root(stage, from_ref) as source_root:
            local = not from_ref and not instruction.heredocs and not remote
            hide = self._hider(excludes, context=local)
            sources: list[Source] = []
            for text in [] if remote else sources_text:
                try:
                    found = match_sources(
                        source_root,
                        text,
                        hide=hide,
                        what="build context" if not from_ref else f"stage {from_ref}",
                    )
                except (NotFound, InvalidArgument) as exc:
                    raise fail(instruction, self.filename, exc.message, exc.hint) from None
                if parents and "/./" in f"/{text}":
                    sources.extend(_pivoted(found, text))
                else:
                    sources.extend(found)
            heredoc_dir = None
            if remote:
                heredoc_dir = tempfile.mkdtemp(prefix="capsa-remote-")
                sources = self._fetch(instruction, remote, heredoc_dir)
            elif instruction.heredocs:
                heredoc_dir = tempfile.mkdtemp(prefix="capsa-heredoc-")
                for heredoc in instruction.heredocs:
                    content = heredoc.content
                    if heredoc.expand:
                        content = expand_heredoc(content, lookup, escape=self.escape)
                    with open(os.path.join(heredoc_dir, heredoc.name), "w") as f:
                        f.write(content)
                    os.chmod(os.path.join(heredoc_dir, heredoc.name), 0o644)
            try:
                read_root = heredoc_dir or source_root
                if heredoc_dir and not remote:
                    sources = [Source(h.name, False) for h in instruction.heredocs]
                keep_owners = bool(from_ref) and not chown and not heredoc_dir
                digest = content_hash(read_root, sources, hide, owners=keep_owners)
                if checksum and keyword == "ADD":
                    _verify_checksum(instruction, self.filename, read_root, sources, checksum)
                archive = keyword == "ADD" and not heredoc_dir
                parent_key = "link" if link else state.key
                key = step_key(
                    parent_key,
                    keyword,
                    [(s.relative, s.kept) for s in sources],
                    digest,
                    dest,
                    dest_is_dir,
                    chown,
                    chmod,
                    parents,
                    archive,
                    excludes,
                    from_ref,
                    state.config.get("User") if chown else None,
                )
                shown = " ".join([*sources_text, dest_text]) if sources_text else dest_text
                flags = " ".join(
                    f"--{f.name}={f.value}" if f.value is not None else f"--{f.name}"
                    for f in instruction.flags
                )
                created_by = f"{keyword} {flags + ' ' if flags else ''}{shown} # buildkit"
                hit = self._cached(key)
                if hit is not None:
                    self._add_layer(state, hit, key, created_by, link=link)
                    return True
                self._copy_step(
                    state,
                    read_root,
                    sources,
                    dest,
                    dest_is_dir,
                    chown,
                    keep_owners,
                    chmod,
                    parents,
                    hide,
                    archive,
                    key,
                    created_by,
                    link,
                    instruction,
                )
            finally:
                if heredoc_dir:
                    shutil.rmtree(heredoc_dir, ignore_errors=True)
        return False

    def _fetch(self, instruction: Instruction, urls: list[str], directory: str) -> list[Source]:
        from capsa.build import remote

        sources = []
        keep = instruction.has_flag("keep-git-dir") and instruction.flag("keep-git-dir") != "false"
        for url in urls:
            try:
                if remote.is_git(url):
                    sources.append(
                        Source(remote.clone_git(url, directory, keep_git_dir=keep), True)
                    )
                else:
                    sources.append(Source(remote.fetch_url(url, directory), False))
            except CapsaError as exc:
                raise fail(instruction, self.filename, exc.message, exc.hint) from None
        return sources

    def _copy_step(
        self,
        state: ImageState,
        read_root: str,
        sources: list[Source],
        dest: str,
        dest_is_dir: bool,
        chown: str | None,
        keep_owners: bool,
        chmod: int | None,
        parents: bool,
        hide: Callable[[str], bool] | None,
        archive: bool,
        key: str,
        created_by: str,
        link: bool,
        instruction: Instruction,
    ) -> None:
        from capsa.build import copying
        from capsa.build.container import WorkingContainer

        assert self._lease is not None
        container = WorkingContainer(
            self.store, None if link else state.chain, self.work_root, self._lease
        )
        try:
            uid, gid = self._owner(container.rootfs, chown, state)
            options = copying.CopyOptions(
                uid=uid, gid=gid, keep_owners=keep_owners, chmod=chmod, parents=parents, hide=hide
            )
            with copying.RootWriter(container.rootfs) as writer:
                plain: list[Source] = []
                for source in sources:
                    path = os.path.join(read_root, source.relative)
                    kind = copying.archive_kind(path) if archive and not source.is_dir else None
                    if kind is not None:
                        copying.extract_archive(writer, path, kind, dest, uid, gid)
                    else:
                        plain.append(source)
                if plain:
                    try:
                        copying.copy_sources(writer, read_root, plain, dest, dest_is_dir, options)
                    except (InvalidArgument, OSError) as exc:
                        message = exc.message if isinstance(exc, InvalidArgument) else str(exc)
                        raise fail(instruction, self.filename, message) from None
            layer = self._commit(container, state, key, created_by)
        except BaseException:
            container.discard()
            raise
        container.cleanup_dir()
        if layer is not None and link:
            layer = self._rebase(layer, state)
        state.add_step(key, layer)

    def _owner(self, rootfs: str, chown: str | None, state: ImageState) -> tuple[int, int]:
        """--chown: a user (and group) by name or number, in the image's passwd/group;
        without a group, the user's ID is the group's too (Docker's rule)."""
        if not chown:
            return 0, 0
        from capsa.engine.users import resolve_in_rootfs

        text = expand(chown, self._lookup(state), escape=self.escape)
        user = resolve_in_rootfs(rootfs, text, [])
        return user.uid, user.gid if ":" in text else user.uid

    def _hider(self, excludes: list[str], *, context: bool) -> Callable[[str], bool] | None:
        rules = None
        if excludes:
            from capsa.build.ignore import IgnoreRules

            rules = IgnoreRules(excludes)
        ctx = self.options.context if context else None
        if rules is None and ctx is None:
            return None

        def hide(relative: str) -> bool:
            if ctx is not None and ctx.ignored(relative):
                return True
            return rules is not None and rules.ignored(relative)

        return hide

    @contextlib.contextmanager
    def _source_root(self, stage: Stage, reference: str | None) -> Iterator[str]:
        """The tree a step reads: the context, a stage's root or an image's, mounted
        read-only for the step."""
        if not reference:
            yield self.options.context.root
            return
        chain = self._from_chain(stage, reference)
        if chain is None:
            with tempfile.TemporaryDirectory(prefix="capsa-empty-") as empty:
                yield empty
            return
        from capsa.store.mount import mount_all, unmount_all

        key = f"build-view-{os.urandom(8).hex()}"
        assert self._lease is not None
        self._lease.add_snapshot(key)
        target = os.path.join(self.work_root, key)
        os.makedirs(target)
        mounts = self.store.snapshotter.view(key, chain)
        try:
            mount_all(mounts, target)
            try:
                yield target
            finally:
                unmount_all(target, detach=True)
        finally:
            with contextlib.suppress(CapsaError):
                self.store.snapshotter.remove(key)
            shutil.rmtree(target, ignore_errors=True)

    def _from_chain(self, stage: Stage, reference: str) -> str | None:
        assert self.plan is not None
        used = find_stage(self.plan.stages, reference, stage.index)
        if used is not None:
            return self.results[used.index].chain
        record = self._find_image(reference, stage.origin)
        return record.top_layer

    def _from_key(self, stage: Stage, reference: str) -> str:
        assert self.plan is not None
        used = find_stage(self.plan.stages, reference, stage.index)
        if used is not None:
            return self.results[used.index].key
        return self._find_image(reference, stage.origin).id

    # -- layers -------------------------------------------------------------------------

    def _cached(self, key: str) -> CachedLayer | None:
        if self.options.no_cache:
            return None
        hit = self.cache.get(key)
        if hit is None and key in self.imported:
            hit = self.imported[key]  # --cache-from: kept in the local cache from now on
            self.cache.put(hit, "imported with --cache-from")
        return hit

    def _import_cache(self, names: list[str]) -> None:
        """--cache-from IMAGE: the steps an image built with BUILDKIT_INLINE_CACHE=1 lists
        in its config, each with the layer it made."""
        for name in names:
            record = self._find_image(name, None)
            document = json.loads(self.store.content.read_verified(record.id, max_size=16 << 20))
            manifest = json.loads(
                self.store.content.read_verified(record.manifest_digest, max_size=16 << 20)
            )
            diff_ids = document.get("rootfs", {}).get("diff_ids") or []
            for entry in document.get(INLINE_CACHE) or []:
                key, index = entry.get("key"), entry.get("layer")
                if not isinstance(key, str):
                    continue
                if index is None:
                    self.imported[key] = CachedLayer(key, "", "", "", 0, "", 0.0)
                elif isinstance(index, int) and 0 <= index < len(record.layers):
                    layer = manifest["layers"][index]
                    self.imported[key] = CachedLayer(
                        key,
                        record.layers[index],
                        diff_ids[index],
                        layer["digest"],
                        int(layer["size"]),
                        str(document.get("created") or ""),
                        0.0,
                    )

    def _add_layer(
        self, state: ImageState, hit: CachedLayer, key: str, created_by: str, *, link: bool = False
    ) -> None:
        created = self._time(None) if self.options.source_date_epoch is not None else hit.created
        if hit.empty:
            state.add_step(key, None)
            state.history.append(
                {"created": state.created, "created_by": created_by, "empty_layer": True}
            )
            return
        layer = LayerRef(hit.chain, hit.diff_id, hit.digest, hit.size, mt.OCI_LAYER)
        if link:
            layer = self._rebase(layer, state)
        elif layer.chain != _chain_on(state.chain, hit.diff_id):
            raise InvalidArgument(f"the build cache entry {key[:12]} is inconsistent")
        state.add_step(key, layer)
        state.created = created
        state.history.append(
            {"created": created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"}
        )

    def _commit(
        self, container: WorkingContainer, state: ImageState, key: str, created_by: str
    ) -> LayerRef | None:
        """The step's layer, None when it changed nothing (BuildKit's empty layer: only a
        history entry)."""
        from capsa.store.commit import commit_snapshot

        created = self._time(None)
        assert self._lease is not None
        container.unmount()
        record, result = commit_snapshot(
            self.store,
            container.key,
            container.parent,
            lease=self._lease,
            mtime=self.options.source_date_epoch,
            skip_empty=True,
        )
        if record is None:
            self.cache.put(CachedLayer(key, "", "", "", 0, created, time.time()), created_by)
            state.history.append(
                {"created": state.created, "created_by": created_by, "empty_layer": True}
            )
            return None
        layer = LayerRef(
            record.chain_id, str(result.diff_id), str(result.digest), result.size, mt.OCI_LAYER
        )
        self.cache.put(
            CachedLayer(
                key, layer.chain, layer.diff_id, layer.digest, layer.size, created, time.time()
            ),
            created_by,
        )
        state.created = created
        state.history.append(
            {"created": created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"}
        )
        return layer

    def _rebase(self, layer: LayerRef, state: ImageState) -> LayerRef:
        """A `--link` layer (made on nothing) placed on the stage's current layers."""
        assert self._lease is not None
        if state.chain is None:
            return layer
        record = self.store.unpack(
            layer.digest,
            lease=self._lease,
            parent=state.chain,
            diff_id=layer.diff_id,
            media_type=layer.media_type,
        )
        return replace(layer, chain=record.chain_id)

    def _time(self, seconds: float | None) -> str:
        if self.options.source_date_epoch is not None:
            return rfc3339(self.options.source_date_epoch)
        return rfc3339(time.time() if seconds is None else seconds)

    # -- the image ----------------------------------------------------------------------

    def _record_image(self, state: ImageState, lease: Lease) -> ImageRecord:
        from capsa.oci.canonical import canonical_bytes
        from capsa.oci.descriptor import Descriptor
        from capsa.oci.digest import Digest

        config = dict(state.config)
        if self.options.labels:
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
        config = {
            k: v for k, v in config.items() if v not in (None, [], {}) or (k == "Cmd" and v == [])
        }
        document: dict[str, Any] = {
            "architecture": self.platform.architecture,
            "os": self.platform.os,
        }
        if self.platform.variant:
            document["variant"] = self.platform.variant
        document["created"] = state.created
        document["config"] = config
        document["rootfs"] = {
            "type": "layers",
            "diff_ids": [layer.diff_id for layer in state.layers],
        }
        document["history"] = state.history
        if self.options.build_args.get("BUILDKIT_INLINE_CACHE") == "1":
            document[INLINE_CACHE] = [{"key": k, "layer": i} for k, i in state.steps]
        config_bytes = canonical_bytes(document)
        layers = [
            Descriptor(layer.media_type or mt.OCI_LAYER, Digest.parse(layer.digest), layer.size)
            for layer in state.layers
        ]
        from capsa.transport.store.build import record_image

        return record_image(
            self.store, config_bytes, layers, names=list(dict.fromkeys(self.options.tags))
        )


def _pivoted(sources: list[Source], text: str) -> list[Source]:
    """COPY --parents a/./b/c: what is kept under the destination starts after the `./`."""
    prefix = clean_source(f"/{text}".split("/./", 1)[0])
    cut = 0 if prefix == "." else len(prefix) + 1
    return [replace(s, kept=s.relative[cut:] or ".") for s in sources]


def _chain_on(parent: str | None, diff_id: str) -> str:
    from capsa.store.layers import chain_id

    return chain_id(parent, diff_id)


def _describe(instruction: Instruction) -> str:
    text = instruction.original.strip().replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def _is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://", "git@", "git://"))


def _verify_checksum(
    instruction: Instruction, filename: str, root: str, sources: list[Source], checksum: str
) -> None:
    import hashlib

    algorithm, _, expected = checksum.partition(":")
    if algorithm not in ("sha256", "sha384", "sha512") or not expected:
        raise fail(instruction, filename, f"invalid --checksum {checksum!r}", "use sha256:HEX")
    if len(sources) != 1 or sources[0].is_dir:
        raise fail(instruction, filename, "--checksum needs exactly one file")
    digest = hashlib.new(algorithm)
    with open(os.path.join(root, sources[0].relative), "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise fail(
            instruction,
            filename,
            f"{sources[0].relative} has {algorithm}:{digest.hexdigest()}, expected {checksum}",
        )


def _check_platform(platform: Platform | None) -> Platform:
    host = host_platform()
    if platform is None:
        return host
    wanted = platform.normalize()
    if (wanted.os, wanted.architecture) != (host.os, host.architecture):
        raise InvalidArgument(
            f"--platform {wanted}: this host builds {host} images only (no emulation)",
            hint=f"build on a {wanted.architecture} host, or leave --platform out",
        )
    return host


def parse_build_args(items: list[str]) -> dict[str, str]:
    """`--build-arg K=V`, and `--build-arg K` taking K from the caller's environment."""
    values: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid --build-arg {item!r}: no name")
        if eq:
            values[key] = value
        elif key in os.environ:
            values[key] = os.environ[key]
    return values


def source_date_epoch(build_args: Mapping[str, str]) -> int | None:
    text = build_args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(
            f"invalid SOURCE_DATE_EPOCH {text!r}: not a number of seconds"
        ) from None
