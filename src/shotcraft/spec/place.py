"""The vocabulary of `place` hints ("left third, ground, small") and its parser: a shot's
`place` is parsed once, when its Subject is made (`Subject.hint`); the loader reports the
words the parse did not know, the planner reads the rest."""

from __future__ import annotations

from dataclasses import dataclass

HORIZONTAL = {
    "left": 0.22,
    "left third": 1 / 3,
    "center": 0.5,
    "centre": 0.5,
    "right third": 2 / 3,
    "right": 0.78,
    "left edge": 0.08,
    "right edge": 0.92,
    "edge": -1.0,  # either edge, chosen by the seed
}
VERTICAL = ("ground", "horizon", "middle", "sky")
SIZES = {"small": 0.16, "medium": 0.3, "large": 0.5}
WORDS = (*HORIZONTAL, *VERTICAL, *SIZES)


@dataclass(frozen=True, slots=True)
class PlaceHint:
    x: float | None = None  # frame fraction; -1 = an edge picked by the seed
    vertical: str | None = None
    size: float | None = None
    unknown: tuple[str, ...] = ()  # words the parser did not understand


def parse_place(text: str) -> PlaceHint:
    """Parse a hint; `unknown` lists the words it did not understand."""
    tokens = text.lower().replace(",", " ").split()
    x: float | None = None
    vertical: str | None = None
    size: float | None = None
    unknown: list[str] = []
    i = 0
    while i < len(tokens):
        two = " ".join(tokens[i : i + 2])
        if two in HORIZONTAL:
            x, i = HORIZONTAL[two], i + 2
            continue
        word = tokens[i]
        if word in HORIZONTAL:
            x = HORIZONTAL[word]
        elif word in VERTICAL:
            vertical = word
        elif word in SIZES:
            size = SIZES[word]
        elif word not in ("of", "the", "on", "in", "at", "frame", "third"):
            unknown.append(word)
        i += 1
    return PlaceHint(x, vertical, size, tuple(unknown))
