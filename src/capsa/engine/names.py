"""Names for containers the user did not name: adjective_noun, as Docker makes them
(our own lists: adjectives of character, and Latin words for vessels and things that
hold, after capsa itself)."""

from __future__ import annotations

import re
import secrets

from capsa.errors import InvalidArgument

ADJECTIVES = (
    "agile",
    "amber",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "earnest",
    "fervent",
    "festive",
    "gentle",
    "glad",
    "golden",
    "happy",
    "hardy",
    "honest",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucid",
    "merry",
    "mellow",
    "modest",
    "nimble",
    "noble",
    "patient",
    "placid",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "silent",
    "sober",
    "steady",
    "stoic",
    "sunny",
    "swift",
    "tender",
    "tidy",
    "upbeat",
    "vivid",
    "wise",
    "witty",
    "zealous",
)
NOUNS = (
    "amphora",
    "arca",
    "area",
    "armarium",
    "bulla",
    "cadus",
    "calathus",
    "capsula",
    "cista",
    "cornu",
    "crater",
    "culleus",
    "cupa",
    "dolium",
    "fiscus",
    "hydria",
    "lagena",
    "lanx",
    "loculus",
    "modius",
    "olla",
    "orca",
    "patera",
    "pera",
    "pyxis",
    "scrinium",
    "sinus",
    "situla",
    "sporta",
    "theca",
    "urceus",
    "urna",
    "vas",
    "vasculum",
    "vesica",
)
NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def random_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}"


def validate_name(name: str) -> str:
    """Docker's rule for container names; a leading '/' (as the API shows them) is taken."""
    name = name.removeprefix("/")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(
            f"invalid container name {name!r}",
            hint="use letters, digits and _.- (not first), e.g. web_1",
        )
    return name
