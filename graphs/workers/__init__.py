"""Runs on workers: API servers queue runs, `sophia worker` processes execute them.

With ``SOPHIA_RUN_QUEUE=postgres`` (and ``SOPHIA_POSTGRES_URL``, ``SOPHIA_REDIS_URL``), a
background run accepted by any API server is a record in Postgres and a job on a durable
queue (`.queue`: procrastinate); any worker on any machine executes it (`.worker`) and
streams its events through Redis (`.events`), which every API server follows
(`.remote`). Without those settings runs execute in the API server's process.
"""
