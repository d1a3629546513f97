"""Which stages a target needs, and in what order (Docker's multi-stage rules: BuildKit
builds only the stages the target depends on; ARG before FROM feeds FROM lines)."""

from __future__ import annotations

import pytest

from capsa.build.dockerfile import parse
from capsa.build.stages import Plan, find_stage, plan_stages
from capsa.errors import InvalidArgument

AUTO = {"TARGETARCH": "amd64", "TARGETOS": "linux", "TARGETPLATFORM": "linux/amd64"}


def plan(
    text: str, target: str | None = None, build_args: dict[str, str] | None = None
) -> Plan:
    return plan_stages(parse(text), build_args or {}, target, AUTO)


def labels(p: Plan) -> list[str]:
    return [stage.label for stage in p.order]


MULTI = """\
FROM busybox AS base
RUN echo base
FROM base AS build
RUN echo build
FROM busybox AS unrelated
RUN echo unrelated
FROM busybox AS tools
RUN echo tools
FROM scratch AS final
COPY --from=build /out /out
RUN --mount=type=bind,from=tools,target=/t true
"""


def test_the_last_stage_is_the_default_target() -> None:
    p = plan(MULTI)
    assert p.target.name == "final"
    assert p.target.index == 4


def test_stages_nothing_needs_are_not_built() -> None:
    p = plan(MULTI)
    assert "unrelated" not in labels(p)
    assert labels(p) == ["base", "build", "tools", "final"]


def test_needs_come_from_base_copy_from_and_run_mount_from() -> None:
    p = plan(MULTI)
    by_name = {stage.name: stage for stage in p.stages}
    assert by_name["build"].needs == {0}  # FROM base
    assert by_name["final"].needs == {1, 3}  # COPY --from=build, --mount from=tools
    assert by_name["unrelated"].needs == set()


def test_target_builds_only_what_it_needs_in_dependency_order() -> None:
    p = plan(MULTI, target="build")
    assert p.target.name == "build"
    assert labels(p) == ["base", "build"]


def test_target_is_matched_case_insensitively() -> None:
    assert plan(MULTI, target="BUILD").target.name == "build"


def test_unknown_target_is_refused_with_the_stage_names() -> None:
    with pytest.raises(InvalidArgument) as info:
        plan(MULTI, target="nope")
    assert "--target nope" in info.value.message
    assert info.value.hint is not None
    assert "base" in info.value.hint and "final" in info.value.hint


def test_stage_names_are_lower_cased_and_unnamed_stages_get_a_label() -> None:
    p = plan("FROM busybox AS Builder\nFROM busybox\n")
    assert p.stages[0].name == "builder"
    assert p.stages[1].name == ""
    assert p.stages[1].label == "stage-1"


def test_copy_from_by_index_is_a_need() -> None:
    p = plan("FROM busybox\nRUN true\nFROM busybox\nFROM scratch\nCOPY --from=0 /a /a\n")
    assert p.target.needs == {0}
    assert labels(p) == ["stage-0", "stage-2"]


def test_copy_from_an_image_or_a_later_stage_is_not_a_need() -> None:
    text = (
        "FROM busybox AS a\nCOPY --from=later /x /x\nCOPY --from=alpine /y /y\n"
        "FROM busybox AS later\n"
    )
    p = plan(text, target="a")
    assert p.stages[0].needs == set()
    assert labels(p) == ["a"]


def test_a_stage_used_twice_is_built_once() -> None:
    text = (
        "FROM busybox AS common\n"
        "FROM common AS left\n"
        "FROM common AS right\n"
        "FROM scratch\n"
        "COPY --from=left /l /l\n"
        "COPY --from=right /r /r\n"
    )
    order = labels(plan(text))
    assert order.count("common") == 1
    assert order.index("common") < order.index("left") < order.index("stage-3")
    assert order.index("right") < order.index("stage-3")


def test_a_broken_mount_is_not_a_need_but_not_an_error_yet() -> None:
    p = plan("FROM busybox AS a\nFROM busybox\nRUN --mount=type=nope,from=a true\n")
    assert p.target.needs == set()


def test_global_args_expand_in_from() -> None:
    p = plan("ARG VERSION=1.36\nFROM busybox:${VERSION}\n")
    assert p.target.base == "busybox:1.36"
    assert p.global_args == {"VERSION": "1.36"}


def test_build_args_override_global_defaults() -> None:
    p = plan("ARG VERSION=1.36\nFROM busybox:${VERSION}\n", build_args={"VERSION": "1.37"})
    assert p.target.base == "busybox:1.37"


def test_global_arg_default_sees_earlier_global_args() -> None:
    p = plan("ARG A=busy\nARG B=${A}box\nFROM $B\n")
    assert p.target.base == "busybox"


def test_a_given_build_arg_is_taken_literally() -> None:
    p = plan("ARG A=x\nARG B\nFROM busybox:$B\n", build_args={"B": "$A"})
    assert p.global_args["B"] == "$A"


def test_automatic_platform_args_are_usable_in_from() -> None:
    p = plan("FROM --platform=$TARGETPLATFORM busybox-$TARGETARCH\n")
    assert p.target.base == "busybox-amd64"
    assert p.target.platform == "linux/amd64"


def test_a_global_arg_shadows_an_automatic_one() -> None:
    p = plan("ARG TARGETARCH=riscv64\nFROM busybox-$TARGETARCH\n")
    assert p.target.base == "busybox-riscv64"


def test_from_that_expands_to_nothing_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        plan("ARG IMAGE\nFROM $IMAGE\n")
    assert "FROM names no image" in info.value.message
    assert info.value.hint is not None and "--build-arg" in info.value.hint


def test_duplicate_stage_names_are_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        plan("FROM busybox AS a\nFROM busybox AS A\n")
    assert "already defined" in info.value.message


def test_instructions_belong_to_their_stage() -> None:
    p = plan("FROM busybox AS a\nRUN one\nENV X=1\nFROM a\nRUN two\n")
    assert [i.keyword for i in p.stages[0].instructions] == ["RUN", "ENV"]
    assert [i.text for i in p.stages[1].instructions] == ["two"]


def test_find_stage_only_sees_earlier_stages() -> None:
    p = plan("FROM busybox AS a\nFROM busybox AS b\n")
    assert find_stage(p.stages, "a", 1) is p.stages[0]
    assert find_stage(p.stages, "B", 2) is p.stages[1]
    assert find_stage(p.stages, "1", 2) is p.stages[1]
    assert find_stage(p.stages, "b", 1) is None
    assert find_stage(p.stages, "busybox", 2) is None
