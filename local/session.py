"""A realistic, deterministic game session replayed through the app's own HTTP endpoints and queues.

Players are created at the real world's hub and act in rounds (one action per player per round, then the job waits
until the app is idle, so each player's actions apply in order). Actions: moves along real exits, moves where no
exit is, mistyped directions, looks, AI generations from the real prompt templates, a few malformed requests. The
job keeps its own model of where each player is, to check against Cosmos at the end, and a tally of everything it
sent, keyed by the trace ids it generated, to check against the telemetry rows.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from game.directions import DIRECTIONS
from local.app import Response, RunningApp
from local.progress import Progress
from local.prompts import SimulatedModel, Template, fill

MODELS = (("gpt-4o-mini", 70), ("gpt-4o", 25), ("gpt-next-preview", 5))
"""Model ids the game asks for; the last is deliberately unknown to the price table (priced at the ceiling)."""
ACTIONS = (("move", 52), ("move_nowhere", 8), ("move_mistyped", 4), ("look", 14), ("ai", 16), ("inspect", 3),
           ("malformed", 3))
MAX_OUTPUT_TOKENS = 400
START = "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"
JOB_CORRELATION_PREFIX = "job-"
"""Every correlation id the job sends starts with this, so rows it did not cause stand out."""


@dataclass
class Tally:
    """What the job sent and what it was answered, by operation."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    traces: dict[str, str] = field(default_factory=dict)
    """trace id -> operation, for every HTTP request the job made."""
    expected_rejections: int = 0
    ai_estimates: int = 0
    ai_blocked: int = 0
    ai_completions: int = 0
    moves_expected: Counter[str] = field(default_factory=Counter)

    def unexpected_server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)


class GameSession:
    def __init__(self, app: RunningApp, world: dict[str, dict[str, Any]], templates: list[Template],
                 seed: int) -> None:
        self.app, self.world, self.templates = app, world, templates
        self.rng = random.Random(seed)
        self.model = SimulatedModel(random.Random(seed + 1))
        self.tally = Tally()
        self.positions: dict[str, str] = {}
        self.actions = 0
        self._seq = 0

    # --- HTTP with the job's own trace and correlation ids ------------------------------------------------
    def call(self, operation: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Response:
        trace_id = secrets.token_hex(16)
        self._seq += 1
        headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
                   "x-correlation-id": f"{JOB_CORRELATION_PREFIX}{self._seq:06d}-{trace_id[:8]}",
                   **kwargs.pop("headers", {})}
        reply = self.app.request(method, path, body, headers=headers, **kwargs)
        self.tally.sent[operation] += 1
        self.tally.statuses[(operation, reply.status)] += 1
        self.tally.traces[trace_id] = operation
        return reply

    # --- the session ------------------------------------------------------------------------------------------
    def create_players(self, count: int) -> None:
        progress = Progress("creating players", count)
        for _ in range(count):
            reply = self.call("Players.Create", "POST", "/api/players", {"start_location_id": START})
            if reply.status == 202:
                self.positions[reply.body["player_id"]] = START
            progress.advance()
        self.app.wait_idle()
        progress.close()

    def play(self, events: int, on_half: Any = None, deadline: float | None = None) -> None:
        """Replay ``events`` actions in rounds (or until ``deadline``, a ``time.monotonic()`` value)."""
        progress = Progress("replaying the session", events)
        players = sorted(self.positions)
        done, half_done = 0, False
        while done < events and (deadline is None or time.monotonic() < deadline):
            batch = players[: events - done]
            for player in batch:
                self.act(player)
            done += len(batch)
            self.actions = done
            self.app.wait_idle(timeout=120)
            progress.advance(len(batch))
            if on_half is not None and not half_done and done >= events // 2:
                half_done = True
                on_half()
        progress.close()

    def act(self, player: str) -> None:
        action = self.rng.choices([a for a, _ in ACTIONS], weights=[w for _, w in ACTIONS])[0]
        getattr(self, f"_{action}")(player)

    def _move(self, player: str) -> None:
        location = self.world[self.positions[player]]
        exit_ = self.rng.choice(location["exits"])
        typed = self.rng.choice([exit_["direction"], exit_["direction"].upper(), f" {exit_['direction']} "])
        if self.call("Players.Move", "POST", f"/api/players/{player}/moves", {"direction": typed}).status == 202:
            self.positions[player] = exit_["to"]
            self.tally.moves_expected["succeeded"] += 1

    def _move_nowhere(self, player: str) -> None:
        location = self.world[self.positions[player]]
        taken = {e["direction"] for e in location["exits"]}
        direction = self.rng.choice(sorted(DIRECTIONS - taken))
        if self.call("Players.Move", "POST", f"/api/players/{player}/moves", {"direction": direction}).status == 202:
            self.tally.moves_expected["blocked"] += 1

    def _move_mistyped(self, player: str) -> None:
        typed = self.rng.choice(["norht", "sotuh", "upstairs please", "wset", "xyzzy"])
        if self.call("Players.Move", "POST", f"/api/players/{player}/moves", {"direction": typed}).status == 202:
            self.tally.moves_expected["blocked"] += 1

    def _look(self, player: str) -> None:
        self.call("Players.Look", "POST", f"/api/players/{player}/look", {})

    def _inspect(self, player: str) -> None:
        self.call("Locations.Get", "GET", f"/api/locations/{self.positions[player]}")

    def _malformed(self, player: str) -> None:
        self.tally.expected_rejections += 1
        if self.rng.random() < 0.5:
            self.call("Players.Move", "POST", f"/api/players/{player}/moves", raw=b'{"direction": ')
        else:
            self.call("Players.Move", "POST", f"/api/players/{player}/moves", {"direction": ["north"]})

    def _ai(self, player: str) -> None:
        location = self.world[self.positions[player]]
        template = self.rng.choice(self.templates)
        model = self.rng.choices([m for m, _ in MODELS], weights=[w for _, w in MODELS])[0]
        messages = [{"role": "system", "content": fill(template, location, self.world, self.rng)},
                    {"role": "user", "content": f"The traveller looks around {location['name']}."}]
        estimate = self.call("Ai.Estimate", "POST", "/api/ai/estimate", {
            "feature": template.id, "model": model, "messages": messages, "max_output_tokens": MAX_OUTPUT_TOKENS})
        self.tally.ai_estimates += 1
        if estimate.status == 429:
            self.tally.ai_blocked += 1
            return
        if estimate.status != 200:
            return
        usage = self.model.complete(template.id, estimate.body["input_tokens"], MAX_OUTPUT_TOKENS)
        reply = self.call("Ai.Complete", "POST", "/api/ai/completions", {
            "generation_id": estimate.body["generation_id"], "feature": template.id, "model": model,
            "usage": usage, "estimated_input_tokens": estimate.body["input_tokens"]})
        if reply.status == 202:
            self.tally.ai_completions += 1
