"""Platform code shared by every function: settings, telemetry, the function wrapper, Cosmos and queue access."""
