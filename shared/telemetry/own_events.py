"""Events about the telemetry pipeline itself."""

from shared.telemetry import attributes as attr
from shared.telemetry.events import Sampling, define

SETTING_REJECTED = define(
    "Telemetry.Setting.Rejected",
    "An optional app setting had an unusable value; its default was used. Reported once per process.",
    [attr.SETTING_NAME],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
SCHEMA_VIOLATED = define(
    "Telemetry.Schema.Violated",
    "Code emitted a dimension its event does not declare; the dimension was dropped. Once per event and key.",
    [attr.TELEMETRY_NAME],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
