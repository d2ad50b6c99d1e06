"""The function app: registers one blueprint per area and sets telemetry up once. No logic lives here."""

from __future__ import annotations

import azure.functions as func

from cost.functions import bp as cost_functions
from game.functions import bp as game_functions
from integrity.functions import bp as integrity_functions
from shared import runtime
from shared.operations import ALWAYS_KEPT
from shared.platform_functions import bp as platform_functions
from shared.settings import AppSettings
from shared.telemetry.setup import configure

settings = AppSettings.from_environ()
configure(settings, always_kept=ALWAYS_KEPT)
runtime.install(lambda: runtime.build_services(settings))

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (game_functions, cost_functions, integrity_functions, platform_functions):
    app.register_functions(blueprint)
