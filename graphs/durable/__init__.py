"""Durable runs: checkpointer openers (SQLite, Postgres) and the thread table."""
