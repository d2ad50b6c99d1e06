"""The game's own functions: players, navigation over the real world graph, looking, world content updates."""
