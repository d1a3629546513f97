"""The v1 devices cgroup's state, and the fewest writes that take it to another.

Writing a container's rules one after the other, as the config lists them, starts with
"a" to devices.deny: a reset that denies everything until the allows that follow are
written. A process already in the cgroup (a running container whose rules are updated)
can be refused its own /dev/null in between. So, as runc does (its devices emulator),
the rules are played on a model of the kernel's state to find the state they lead to,
and only the difference is written: allows first, then denies, with a reset only where
the default itself changes.

The kernel's model (security/device_cgroup.c): a default (allow or deny) and a list of
exceptions keyed by (type, major, minor), a wildcard being a key of its own. A rule of
type "a" resets: it sets the default and empties the list. Any other rule that agrees
with the default takes its access letters off the exception with exactly its key; one
that goes against it adds them there. devices.list shows the exceptions of a cgroup
that denies by default, and "a *:* rwm" alone for one that allows by default: that
cgroup's exceptions cannot be read, so a change from it starts with a reset.
"""

from __future__ import annotations

from capsa.cgroups.devices import DeviceRule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

Key = tuple[str, "int | None", "int | None"]  # type "b" or "c", major, minor (None: any)

ALLOW_ALL_LINE = "a *:* rwm"


class DeviceState:
    """A devices cgroup's default and exceptions; `known` is False when its exceptions
    could not be read (a cgroup that allows by default)."""

    __slots__ = ("default_allow", "exceptions", "known")

    def __init__(
        self, default_allow: bool, exceptions: dict[Key, str] | None = None, *, known: bool = True
    ) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[Key, str] = dict(exceptions or {})
        self.known = known

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceState) and (
            self.default_allow,
            self.exceptions,
            self.known,
        ) == (other.default_allow, other.exceptions, other.known)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"DeviceState({self.default_allow}, {self.exceptions}, known={self.known})"

    def copy(self) -> DeviceState:
        return DeviceState(self.default_allow, self.exceptions, known=self.known)

    def apply(self, rule: DeviceRule) -> None:
        """What writing `rule` does to the cgroup."""
        if rule.type == "a":
            self.default_allow, self.exceptions, self.known = rule.allow, {}, True
            return
        key = (rule.type, rule.major, rule.minor)
        held = self.exceptions.get(key, "")
        if rule.allow == self.default_allow:
            left = "".join(c for c in held if c not in rule.access)
        else:
            left = "".join(c for c in "rwm" if c in held or c in rule.access)
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)


def parse_list(text: str) -> DeviceState:
    """The state devices.list shows."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines == [ALLOW_ALL_LINE]:
        return DeviceState(True, known=False)
    exceptions: dict[Key, str] = {}
    for line in lines:
        kind, numbers, access = line.split()
        major, minor = numbers.split(":")
        key = (kind, None if major == "*" else int(major), None if minor == "*" else int(minor))
        exceptions[key] = access
    return DeviceState(False, exceptions)


def render(state: DeviceState) -> str:
    """devices.list as the kernel would show `state` (one line per exception)."""
    if state.default_allow:
        return ALLOW_ALL_LINE
    return "\n".join(
        f"{kind} {'*' if major is None else major}:{'*' if minor is None else minor} {access}"
        for (kind, major, minor), access in state.exceptions.items()
    )


def after(current: DeviceState, rules: Iterable[DeviceRule]) -> DeviceState | None:
    """The state writing `rules` in order leads to; None when it depends on exceptions
    that cannot be read (no reset comes before the first other rule)."""
    state = current.copy()
    for rule in rules:
        if not state.known and rule.type != "a":
            return None
        state.apply(rule)
    return state


def transition(current: DeviceState, target: DeviceState) -> list[DeviceRule]:
    """The rules that take `current` to `target`: a reset only when the default changes
    (or the current exceptions are unknown), allows before denies otherwise."""
    if not current.known or current.default_allow != target.default_allow:
        rules = [DeviceRule(target.default_allow, "a", None, None, "rwm")]
        base: dict[Key, str] = {}
    else:
        rules = []
        base = current.exceptions
    # An exception holds what goes against the default: adding letters to it is a rule
    # of the other kind, taking them off is a rule of the default's kind.
    widen = not target.default_allow
    grants, revokes = [], []
    for key in [*base, *(k for k in target.exceptions if k not in base)]:
        held, wanted = base.get(key, ""), target.exceptions.get(key, "")
        added = "".join(c for c in "rwm" if c in wanted and c not in held)
        removed = "".join(c for c in "rwm" if c in held and c not in wanted)
        if added:
            grants.append(DeviceRule(widen, key[0], key[1], key[2], added))
        if removed:
            revokes.append(DeviceRule(not widen, key[0], key[1], key[2], removed))
    # Denying by default, the exceptions are allows: give before taking away, so that
    # nothing the container keeps is refused in between (and the reverse otherwise).
    return rules + (grants + revokes if widen else revokes + grants)
