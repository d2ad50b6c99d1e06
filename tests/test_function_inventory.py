"""The function inventory, walked from the app's own registry: a registration cannot silently disappear."""

from __future__ import annotations

import function_app


def _inventory() -> dict[str, tuple]:
    found = {}
    for function in function_app.app.get_functions():
        trigger = function.get_trigger()
        data = trigger.get_dict_repr()
        key = data.get("route") or data.get("queueName") or data.get("schedule")
        methods = tuple(sorted(str(getattr(m, "value", m)) for m in data.get("methods") or ()))
        found[function.get_function_name()] = (data["type"], key, methods)
    return found


def test_inventory() -> None:
    assert _inventory() == EXPECTED


EXPECTED = {
    "create_player": ("httpTrigger", "players", ("POST",)),
    "move_player": ("httpTrigger", "players/{player_id}/moves", ("POST",)),
    "look": ("httpTrigger", "players/{player_id}/look", ("POST",)),
    "get_location": ("httpTrigger", "locations/{location_id}", ("GET",)),
    "update_location": ("httpTrigger", "locations/{location_id}", ("PUT",)),
    "on_player_created": ("queueTrigger", "player-created", ()),
    "on_player_move": ("queueTrigger", "player-move", ()),
    "on_location_look": ("queueTrigger", "location-look", ()),
    "on_world_content_updated": ("queueTrigger", "world-content-updated", ()),
    "poison_scan": ("timerTrigger", "%POISON_SCAN_SCHEDULE%", ()),
    "ai_estimate": ("httpTrigger", "ai/estimate", ("POST",)),
    "ai_complete": ("httpTrigger", "ai/completions", ("POST",)),
    "ai_costs": ("httpTrigger", "ai/costs", ("GET",)),
    "on_ai_generation_completed": ("queueTrigger", "ai-generation-completed", ()),
    "cost_rollup": ("timerTrigger", "%COST_ROLLUP_SCHEDULE%", ()),
    "integrity_check": ("timerTrigger", "%INTEGRITY_SCHEDULE%", ()),
    "integrity_report": ("httpTrigger", "integrity/report", ("GET",)),
}
