"""Seeding the demo warehouse and the memory index."""
