"""AI generation requests built from the real prompt templates filled with real location text, and the simulated
model that answers them.

The model is the one fake of the main job: no language model can run here (no network, no weights). It is kept out
of the app entirely; it plays the game server's model call between the app's ``/api/ai/estimate`` and
``/api/ai/completions``, and reports usage the way a provider does (prompt tokens as counted, cached tokens in
128-token blocks for a repeated prefix over 1,024 tokens, completion tokens up to the requested maximum).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\[([a-z_]+)\]")
CACHE_BLOCK = 128
CACHE_MINIMUM = 1024


@dataclass(frozen=True)
class Template:
    id: str
    text: str
    variables: tuple[dict[str, Any], ...]


def load_templates(folder: Path) -> list[Template]:
    templates = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        templates.append(Template(data["metadata"]["id"], data["template"], tuple(data.get("variables", []))))
    return templates


def fill(template: Template, location: dict[str, Any], world: dict[str, dict[str, Any]], rng: random.Random) -> str:
    values = _values(location, world, rng)
    defaults = {v["name"]: str(v.get("defaultValue", "")) for v in template.variables}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or defaults.get(m.group(1)) or m.group(1).replace("_", " "),
                           template.text)


def _values(location: dict[str, Any], world: dict[str, dict[str, Any]], rng: random.Random) -> dict[str, str]:
    exit_ = rng.choice(location["exits"]) if location["exits"] else None
    target = world.get(exit_["to"]) if exit_ else None
    tags = location.get("tags", [])
    faction = next((t.split(":", 1)[1] for t in tags if t.startswith("settlement:")), "unaligned")
    return {
        "current_location": f"{location['name']}: {location['description']}",
        "existing_location": location["name"],
        "visible_exits": ", ".join(e["direction"] for e in location["exits"]),
        "player_id": "the traveller",
        "direction": exit_["direction"] if exit_ else "north",
        "duration_bucket": _bucket(exit_.get("travelDurationMs", 0) if exit_ else 0),
        "origin_snippet": location["description"].split(". ")[0],
        "destination_snippet": target["description"].split(". ")[0] if target else "",
        "destination_name": target["name"] if target else "",
        "terrain_type": next((t.split(":", 1)[0] for t in tags if ":" in t and not t.startswith("settlement")),
                             "village"),
        "npc_name": f"the keeper of {location['name']}",
        "faction": faction,
        "alignment": rng.choice(["lawful neutral", "neutral good", "chaotic neutral"]),
        "quest_type": rng.choice(["fetch", "escort", "investigate"]),
        "player_level_range": "1-3",
        "current_storylines": ", ".join(tags[:3]),
        "faction_conflicts": f"{faction} against the river smugglers",
    }


def _bucket(duration_ms: int) -> str:
    return "short" if duration_ms <= 120_000 else "medium" if duration_ms <= 600_000 else "long"


class SimulatedModel:
    """Provider-style usage for a request (see module docstring: a labelled fake, the job's only one)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen_prefixes: set[str] = set()

    def complete(self, feature: str, prompt_tokens: int, max_output_tokens: int) -> dict[str, int]:
        cached = 0
        if feature in self._seen_prefixes and prompt_tokens >= CACHE_MINIMUM:
            cached = (prompt_tokens - prompt_tokens % CACHE_BLOCK) // 2 // CACHE_BLOCK * CACHE_BLOCK
        self._seen_prefixes.add(feature)
        completion = self._rng.randint(max(1, max_output_tokens // 3), max_output_tokens)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "cached_tokens": cached}
