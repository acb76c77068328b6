"""The workflows that ship with the engine: the deal review and memory recall."""
