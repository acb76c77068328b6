"""Errors of durable runs: the checkpoint store and threads."""

from __future__ import annotations

from graphs.engine.errors import GraphError
from stores.errors import SophiaError


class CheckpointStoreError(SophiaError):
    """The checkpoint store (SQLite or Postgres) failed, so a threaded run cannot proceed."""


class CheckpointStoreUnavailableError(CheckpointStoreError):
    """The checkpoint store cannot be reached; runs without a thread still work."""


class ThreadError(GraphError):
    """Base class for errors about threads (durable conversations) and their runs."""


class UnknownThreadError(ThreadError, LookupError):
    """No thread exists under the requested id."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"unknown thread {thread_id!r}")
        self.thread_id = thread_id


class ThreadExistsError(ThreadError):
    """A thread with this id already exists (create with ``if_exists='raise'``)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} already exists")
        self.thread_id = thread_id


class ThreadBusyError(ThreadError):
    """A run is already in progress on the thread (multitask strategy 'reject')."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"thread {thread_id!r} is busy with run {run_id!r}")
        self.thread_id = thread_id
        self.run_id = run_id


class NothingToResumeError(ThreadError):
    """A resume was asked for a thread that is neither interrupted nor unfinished."""


class AssistantExistsError(SophiaError):
    """An assistant with this id already exists (create with ``if_exists='raise'``), or
    belongs to another tenant."""

    def __init__(self, assistant_id: str) -> None:
        super().__init__(f"assistant {assistant_id!r} already exists")
        self.assistant_id = assistant_id
