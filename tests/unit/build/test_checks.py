"""Build checks: rule names on warnings, `# check=skip=...;error=true` and the
BUILDKIT_DOCKERFILE_CHECK build argument, as BuildKit documents them."""

from __future__ import annotations

import pytest

from capsa.build.checks import build_warnings, parse_settings
from capsa.build.dockerfile import parse
from capsa.errors import InvalidArgument

FILE = """FROM busybox as base
MAINTAINER someone
ENV A 1
CMD echo hi
"""


def rules(warnings: list[str]) -> list[str]:
    return [w.split(": ", 2)[1] for w in warnings]


def test_each_warning_names_its_rule() -> None:
    found = build_warnings(parse(FILE))
    assert rules(found) == [  # in the order of their lines
        "FromAsCasing",
        "MaintainerDeprecated",
        "LegacyKeyValueFormat",
        "JSONArgsRecommended",
    ]
    assert found[1].startswith("Dockerfile:2: ")


def test_skip_silences_rules_and_all_of_them() -> None:
    text = "# check=skip=JSONArgsRecommended,FromAsCasing\n" + FILE
    assert rules(build_warnings(parse(text))) == ["MaintainerDeprecated", "LegacyKeyValueFormat"]
    assert build_warnings(parse("# check=skip=all\n" + FILE)) == []


def test_error_true_fails_on_what_remains() -> None:
    with pytest.raises(
        InvalidArgument, match="build check failed: Dockerfile:2: FromAsCasing"
    ):
        build_warnings(parse("# check=error=true\n" + FILE))
    clean = '# check=error=true\nFROM busybox AS base\nCMD ["true"]\n'
    assert build_warnings(parse(clean)) == []


def test_the_build_argument_overrides_the_directive() -> None:
    text = "# check=error=true\n" + FILE
    assert len(build_warnings(parse(text), "skip=all")) == 0
    assert len(build_warnings(parse(FILE), "error=false")) == 4


@pytest.mark.parametrize("bad", ["error=maybe", "nonsense", "colour=red"])
def test_bad_settings_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_settings(bad, "here")
