"""Exit directions: the closed set the world uses, and normalisation of what a player typed.

A typed direction never becomes a telemetry dimension as typed (unbounded cardinality, possibly personal text):
it is normalised to one of :data:`DIRECTIONS` or bucketed as :data:`OTHER`.
"""

from __future__ import annotations

from typing import Final

DIRECTIONS: Final = frozenset({
    "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest", "up", "down", "in", "out",
})
OTHER: Final = "other"
_ALIASES: Final = {
    "n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest", "u": "up", "d": "down", "inside": "in", "enter": "in",
    "outside": "out", "exit": "out", "north-east": "northeast", "north-west": "northwest",
    "south-east": "southeast", "south-west": "southwest",
}


def normalise(typed: str) -> str:
    """``" North "`` → ``north``, ``"NW"`` → ``northwest``, anything else → ``other``."""
    word = " ".join(typed.strip().lower().split())
    word = _ALIASES.get(word, word)
    return word if word in DIRECTIONS else OTHER
