"""Ids of the demo data that the engine's defaults refer to (no imports: cheap to read)."""

DEFAULT_DEAL_ID = "D-00001"
"""The demo warehouse's first deal: what a deal review of an empty input reviews."""
