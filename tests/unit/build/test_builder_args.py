"""Build arguments: --build-arg, SOURCE_DATE_EPOCH, the automatic platform ARGs, and
ARG scope as Docker documents it, through whole builds of `FROM scratch` Dockerfiles
made only of configuration steps (no container runs, so no root is needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa.build.builder import (
    Builder,
    BuildOptions,
    automatic_args,
    parse_build_args,
    source_date_epoch,
)
from capsa.build.context import BuildContext
from capsa.build.dockerfile import parse
from capsa.errors import InvalidArgument
from capsa.oci.platform import Platform, host_platform
from capsa.store.store import Store


class Recorded:
    """A Progress that keeps what the build reports."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.steps: list[str] = []

    def step(self, stage: str, number: int, total: int, text: str) -> None:
        self.steps.append(f"{stage} {number}/{total} {text}")

    def cached(self, stage: str) -> None:
        pass

    def done(self, stage: str, seconds: float) -> None:
        pass

    def output(self, stage: str, data: bytes) -> None:
        pass

    def warning(self, text: str) -> None:
        self.warnings.append(text)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store", driver="vfs") as opened:
        yield opened


@pytest.fixture
def context_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "ctx"
    directory.mkdir()
    return directory


def build(
    store: Store,
    context_dir: Path,
    text: str,
    build_args: dict[str, str] | None = None,
    *,
    target: str | None = None,
    progress: Recorded | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """Build `text` and return the image's config document."""
    options = BuildOptions(
        dockerfile=parse(text),
        context=BuildContext(str(context_dir)),
        build_args=build_args or {},
        target=target,
        source_date_epoch=epoch,
    )
    result = Builder(store, options, progress or Recorded()).build()
    document: dict[str, Any] = json.loads(store.content.read_verified(result.image_id))
    return document


def labels(document: dict[str, Any]) -> dict[str, str]:
    return dict(document["config"].get("Labels") or {})


# -- parse_build_args, source_date_epoch, automatic_args -------------------------------


def test_parse_build_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "env-value")
    monkeypatch.delenv("NOT_SET", raising=False)
    values = parse_build_args(["A=1", "B=", "C=x=y", "FROM_ENV", "NOT_SET"])
    # Docker: --build-arg NAME takes NAME from the environment, and is left out if unset
    assert values == {"A": "1", "B": "", "C": "x=y", "FROM_ENV": "env-value"}


def test_parse_build_args_needs_a_name() -> None:
    with pytest.raises(InvalidArgument):
        parse_build_args(["=value"])


def test_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source_date_epoch({}) is None
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "42")
    assert source_date_epoch({}) == 42
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "7"}) == 7  # the build arg wins
    with pytest.raises(InvalidArgument):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_automatic_args() -> None:
    values = automatic_args(Platform("linux", "arm", "v7"))
    assert values["TARGETPLATFORM"] == values["BUILDPLATFORM"] == "linux/arm/v7"
    assert (values["TARGETOS"], values["TARGETARCH"], values["TARGETVARIANT"]) == (
        "linux",
        "arm",
        "v7",
    )
    assert automatic_args(Platform("linux", "amd64"))["TARGETPLATFORM"] == "linux/amd64"
    assert automatic_args(Platform("linux", "amd64"))["TARGETVARIANT"] == ""


# -- ARG scope (Docker's Dockerfile reference, "ARG") ---------------------------------


def test_an_arg_before_from_is_not_seen_in_the_stage(store: Store, context_dir: Path) -> None:
    document = build(store, context_dir, "ARG VERSION=latest\nFROM scratch\nLABEL v=x$VERSION\n")
    assert labels(document) == {"v": "x"}


def test_redeclaring_a_global_arg_brings_its_value_in(store: Store, context_dir: Path) -> None:
    text = "ARG VERSION=latest\nFROM scratch\nARG VERSION\nLABEL v=$VERSION\n"
    assert labels(build(store, context_dir, text)) == {"v": "latest"}
    assert labels(build(store, context_dir, text, {"VERSION": "1.2"})) == {"v": "1.2"}


def test_an_arg_is_in_scope_from_its_line_on(store: Store, context_dir: Path) -> None:
    text = (
        "FROM scratch\n"
        "LABEL before=${username:-some_user}\n"
        "ARG username\n"
        "LABEL after=${username:-some_user}\n"
    )
    document = build(store, context_dir, text, {"username": "what_user"})
    assert labels(document) == {"before": "some_user", "after": "what_user"}


def test_an_arg_default_is_used_without_a_build_arg(store: Store, context_dir: Path) -> None:
    text = "FROM scratch\nARG user=someuser\nUSER $user\n"
    assert build(store, context_dir, text)["config"]["User"] == "someuser"
    assert build(store, context_dir, text, {"user": "other"})["config"]["User"] == "other"


def test_env_overrides_an_arg_of_the_same_name(store: Store, context_dir: Path) -> None:
    text = "FROM scratch\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nLABEL v=$CONT_IMG_VER\n"
    document = build(store, context_dir, text, {"CONT_IMG_VER": "v2.0.1"})
    assert labels(document) == {"v": "v1.0.0"}


def test_env_from_an_arg_with_a_fallback(store: Store, context_dir: Path) -> None:
    text = "FROM scratch\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\n"
    without = build(store, context_dir, text)
    given = build(store, context_dir, text, {"CONT_IMG_VER": "v2.0.1"})
    assert "CONT_IMG_VER=v1.0.0" in without["config"]["Env"]
    assert "CONT_IMG_VER=v2.0.1" in given["config"]["Env"]


def test_an_arg_ends_with_its_stage(store: Store, context_dir: Path) -> None:
    text = "FROM scratch AS one\nARG A=1\nFROM one\nLABEL a=x$A\n"
    assert labels(build(store, context_dir, text)) == {"a": "x"}


def test_env_is_inherited_from_a_parent_stage(store: Store, context_dir: Path) -> None:
    text = "FROM scratch AS one\nENV E=1\nFROM one\nLABEL e=$E\n"
    assert labels(build(store, context_dir, text)) == {"e": "1"}


def test_platform_args_need_an_arg_line_in_the_stage(store: Store, context_dir: Path) -> None:
    # Docker: the automatic platform ARGs are global; ARG TARGETPLATFORM brings one in
    platform = host_platform()
    expected = f"{platform.os}/{platform.architecture}" + (
        f"/{platform.variant}" if platform.variant else ""
    )
    text = (
        "FROM scratch\nLABEL before=x$TARGETPLATFORM\nARG TARGETPLATFORM\n"
        "LABEL after=$TARGETPLATFORM\n"
    )
    assert labels(build(store, context_dir, text)) == {"before": "x", "after": expected}


def test_an_unused_build_arg_is_warned_about(store: Store, context_dir: Path) -> None:
    progress = Recorded()
    text = "ARG USED\nFROM scratch\nARG ALSO\nLABEL a=b\n"
    build(
        store,
        context_dir,
        text,
        {"USED": "1", "ALSO": "2", "UNUSED": "3", "HTTP_PROXY": "http://p"},
        progress=progress,
    )
    assert progress.warnings == ["one or more build args were not consumed: UNUSED"]


def test_args_change_no_config_but_do_not_leak_into_the_image(
    store: Store, context_dir: Path
) -> None:
    document = build(store, context_dir, "FROM scratch\nARG SECRETISH=x\n")
    assert "SECRETISH" not in json.dumps(document["config"])


# -- the target and the build's times -------------------------------------------------


def test_target_builds_that_stage(store: Store, context_dir: Path) -> None:
    progress = Recorded()
    text = "FROM scratch AS first\nLABEL stage=first\nFROM scratch AS second\nLABEL stage=second\n"
    document = build(store, context_dir, text, target="first", progress=progress)
    assert labels(document) == {"stage": "first"}
    assert not any(step.startswith("second") for step in progress.steps)  # never built


def test_source_date_epoch_sets_every_time(store: Store, context_dir: Path) -> None:
    document = build(store, context_dir, "FROM scratch\nENV A=1\n", epoch=1700000000)
    assert document["created"] == "2023-11-14T22:13:20Z"
    assert [entry["created"] for entry in document["history"]] == ["2023-11-14T22:13:20Z"]


def test_the_same_epoch_gives_the_same_image(store: Store, context_dir: Path) -> None:
    text = "FROM scratch\nENV A=1\nLABEL b=2\nCMD [\"run\"]\n"
    first = build(store, context_dir, text, epoch=1)
    second = build(store, context_dir, text, epoch=1)
    assert first == second
