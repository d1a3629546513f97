"""The stages of a Dockerfile: where each starts (FROM … AS name), what it needs (its
base, `COPY --from`, `RUN --mount=from=`), and which are needed for the target. Stages
nothing needs are not built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from capsa.build.dockerfile import Dockerfile, Instruction
from capsa.build.shellwords import arg_definitions, expand
from capsa.errors import InvalidArgument


@dataclass
class Stage:
    index: int
    name: str  # lower case, "" when unnamed
    base: str  # FROM's image as expanded with the global ARGs
    platform: str
    origin: Instruction  # the FROM
    instructions: list[Instruction] = field(default_factory=list)
    needs: set[int] = field(default_factory=set)  # indexes of stages used

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass(frozen=True)
class Plan:
    global_args: dict[str, str | None]  # ARG before the first FROM, as given/defaulted
    stages: list[Stage]
    order: list[Stage]  # the stages to build, each after those it needs
    target: Stage


def plan_stages(
    dockerfile: Dockerfile,
    build_args: Mapping[str, str],
    target: str | None,
    automatic_args: Mapping[str, str],
) -> Plan:
    escape = dockerfile.escape
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in dockerfile.instructions:
        if instruction.keyword == "FROM":

            def lookup(name: str) -> str | None:
                if name in global_args:
                    return global_args[name]
                return automatic_args.get(name)

            words = instruction.text.split()
            base = expand(words[0], lookup, escape=escape) if words else ""
            name = ""
            if len(words) == 3 and words[1].upper() == "AS":
                name = words[2].lower()
            elif len(words) != 1:
                raise InvalidArgument(
                    f"{dockerfile.filename}:{instruction.line}: FROM takes an image and "
                    f"optionally AS NAME, not {instruction.text!r}"
                )
            if name and any(stage.name == name for stage in stages):
                raise InvalidArgument(
                    f"{dockerfile.filename}:{instruction.line}: a stage named {name!r} is "
                    "already defined"
                )
            platform = instruction.flag("platform") or ""
            if platform:
                platform = expand(platform, lookup, escape=escape)
            if not base:
                raise InvalidArgument(
                    f"{dockerfile.filename}:{instruction.line}: FROM names no image after "
                    "its variables are expanded",
                    hint="give the build argument with --build-arg",
                )
            stages.append(Stage(len(stages), name, base, platform, instruction))
        elif not stages:
            if instruction.keyword != "ARG":
                raise InvalidArgument(
                    f"{dockerfile.filename}:{instruction.line}: only ARG may come before FROM"
                )
            for key, default in arg_definitions(instruction.text, None, escape=escape):
                value = build_args.get(key, default)
                if value is not None and key not in build_args:
                    value = expand(value, global_args.get, escape=escape)
                global_args[key] = value
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise InvalidArgument(f"{dockerfile.filename}: no FROM: a Dockerfile needs one")
    for stage in stages:
        stage.needs = _needs(stage, stages)
    chosen = _target(stages, target, dockerfile.filename)
    order = _order(chosen, stages)
    return Plan(global_args, stages, order, chosen)


def find_stage(stages: list[Stage], reference: str, before: int) -> Stage | None:
    """The stage `reference` names (its name or index), if defined before stage `before`."""
    wanted = reference.lower()
    for stage in stages[:before]:
        if stage.name == wanted or str(stage.index) == wanted:
            return stage
    return None


def _needs(stage: Stage, stages: list[Stage]) -> set[int]:
    needs: set[int] = set()
    base = find_stage(stages, stage.base, stage.index)
    if base is not None:
        needs.add(base.index)
    for instruction in stage.instructions:
        references = []
        if instruction.keyword in ("COPY", "ADD") and instruction.flag("from"):
            references.append(instruction.flag("from") or "")
        if instruction.keyword == "RUN" and instruction.has_flag("mount"):
            from capsa.build.mounts import parse_run_mount

            for text in instruction.flag_values("mount"):
                try:
                    mount = parse_run_mount(text)
                except InvalidArgument:
                    continue  # reported when the step runs, with its line
                if mount.from_:
                    references.append(mount.from_)
        for reference in references:
            used = find_stage(stages, reference, stage.index)
            if used is not None:
                needs.add(used.index)
    return needs


def _target(stages: list[Stage], target: str | None, filename: str) -> Stage:
    if not target:
        return stages[-1]
    for stage in stages:
        if stage.name == target.lower():
            return stage
    names = ", ".join(stage.name for stage in stages if stage.name) or "none"
    raise InvalidArgument(
        f"--target {target}: {filename} has no stage of that name", hint=f"its stages: {names}"
    )


def _order(target: Stage, stages: list[Stage]) -> list[Stage]:
    seen: set[int] = set()
    order: list[Stage] = []

    def visit(stage: Stage) -> None:
        if stage.index in seen:
            return
        seen.add(stage.index)
        for index in sorted(stage.needs):
            visit(stages[index])
        order.append(stage)

    visit(target)
    return order
