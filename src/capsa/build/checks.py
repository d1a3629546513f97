"""Build checks, as BuildKit's `# check=` directive and BUILDKIT_DOCKERFILE_CHECK build
argument control them: each warning the parser or these checks raise is named by its
rule (NoEmptyContinuation, MaintainerDeprecated, LegacyKeyValueFormat,
JSONArgsRecommended, FromAsCasing); `skip=RULE,RULE` (or `skip=all`) silences rules and
`error=true` makes any remaining warning fail the build."""

from __future__ import annotations

from dataclasses import dataclass

from capsa.build.dockerfile import Dockerfile
from capsa.errors import InvalidArgument


@dataclass(frozen=True)
class CheckSettings:
    skip: frozenset[str] = frozenset()
    error: bool = False

    def skips(self, rule: str) -> bool:
        return "all" in self.skip or rule in self.skip


def parse_settings(text: str, where: str) -> CheckSettings:
    """`skip=A,B;error=true` (the directive's and the build argument's syntax)."""
    skip: set[str] = set()
    error = False
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq:
            raise InvalidArgument(f"{where}: invalid check setting {part!r}: expected KEY=VALUE")
        if key == "skip":
            skip.update(v.strip() for v in value.split(",") if v.strip())
        elif key == "error":
            if value.strip().lower() not in ("true", "false"):
                raise InvalidArgument(f"{where}: error= takes true or false, not {value!r}")
            error = value.strip().lower() == "true"
        else:
            raise InvalidArgument(
                f"{where}: unknown check setting {key!r}", hint="use skip=RULE,... or error=true"
            )
    return CheckSettings(frozenset(skip), error)


def _rule(warning: str) -> str:
    """The rule a "FILE:LINE: Rule: text" warning names."""
    parts = warning.split(": ", 2)
    return parts[1] if len(parts) == 3 else ""


def _line(warning: str) -> int:
    parts = warning.split(": ", 1)[0].rsplit(":", 1)
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0


def build_warnings(dockerfile: Dockerfile, override: str | None = None) -> list[str]:
    """The warnings this build reports (the parser's and the checks here), filtered by
    the settings; InvalidArgument when `error=true` and any remain."""
    text = override if override is not None else dockerfile.directives.get("check", "")
    where = (
        "BUILDKIT_DOCKERFILE_CHECK" if override is not None else f"{dockerfile.filename}: # check"
    )
    settings = parse_settings(text, where)
    warnings = sorted([*dockerfile.warnings, *_instruction_checks(dockerfile)], key=_line)
    kept = [w for w in warnings if not settings.skips(_rule(w))]
    if settings.error and kept:
        more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
        raise InvalidArgument(
            f"build check failed: {kept[0]}{more}",
            hint="fix it, or skip the rule with # check=skip=RULE",
        )
    return kept


def _instruction_checks(dockerfile: Dockerfile) -> list[str]:
    found = []
    for instruction in dockerfile.instructions:
        where = f"{dockerfile.filename}:{instruction.line}"
        if instruction.keyword in ("CMD", "ENTRYPOINT") and instruction.json is None:
            found.append(
                f"{where}: JSONArgsRecommended: JSON arguments recommended for "
                f"{instruction.keyword} to prevent unintended behavior related to OS signals"
            )
        if instruction.keyword == "FROM":
            words = instruction.original.split()
            if len(words) >= 4 and words[-2].lower() == "as":
                from_upper = words[0].isupper()
                if from_upper != words[-2].isupper():
                    found.append(
                        f"{where}: FromAsCasing: '{words[-2]}' and '{words[0]}' keywords' "
                        "casing do not match"
                    )
    return found
