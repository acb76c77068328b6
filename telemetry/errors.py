"""The root of every error the engine raises on purpose: `SophiaError`.

It lives here, in the bottom package, because telemetry imports nothing of ours; every
other package derives its errors from it and `stores.errors` re-exports it, so
``stores.errors.SophiaError`` stays its public name.
"""

from __future__ import annotations

__all__ = ["SophiaError"]


class SophiaError(Exception):
    """Root of every error the engine raises deliberately."""
