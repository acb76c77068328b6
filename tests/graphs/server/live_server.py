"""A real uvicorn server on a free loopback port, in a thread, for tests over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn

from stores.demo.local_redis import free_port


class ServerThread:
    """uvicorn serving `app` on a free loopback port, in a thread with its own loop
    (`config`: more uvicorn settings)."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="on",
                **config,
            )
        )
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during startup")
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
