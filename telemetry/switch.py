"""A global TracerProvider whose target can be replaced: why ``configure()`` can run twice.

OpenTelemetry lets the global tracer provider be set once per process and refuses to
replace it, and code in ``stores/`` and ``nodes/`` gets its tracers from the global API
(``trace.get_tracer(...)``), often before ``telemetry.configure()`` ran. So the global
provider we install is a :class:`SwitchTracerProvider`: it hands out
:class:`SwitchTracer` objects that forward each span to the SDK ``TracerProvider`` that is
*active* now (or to a no-op tracer when none is). Each ``configure()`` builds a fresh SDK
provider (its own resource, sampler and exporters) and activates it; shutting that
:class:`~telemetry.setup.Telemetry` down deactivates it. Nothing is stacked: at any time
exactly one SDK provider (or none) receives spans.

The cost per span is one integer comparison (the generation check below).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.util import types

__all__ = ["SwitchTracer", "SwitchTracerProvider"]

_NOOP_PROVIDER = trace.NoOpTracerProvider()


class SwitchTracerProvider(trace.TracerProvider):
    """Forwards to the active SDK tracer provider; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: trace.TracerProvider = _NOOP_PROVIDER
        self.generation = 0

    @property
    def active(self) -> trace.TracerProvider | None:
        """The provider spans go to now, or None when tracing is off."""
        return None if self._active is _NOOP_PROVIDER else self._active

    def activate(self, provider: trace.TracerProvider | None) -> None:
        """Send all spans (from old and new tracers alike) to ``provider`` (None: drop them)."""
        with self._lock:
            self._active = provider if provider is not None else _NOOP_PROVIDER
            self.generation += 1

    def deactivate(self, provider: trace.TracerProvider) -> bool:
        """Turn tracing off if ``provider`` is the active one; returns whether it was."""
        with self._lock:
            if self._active is not provider:
                return False
            self._active = _NOOP_PROVIDER
            self.generation += 1
            return True

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        """A tracer that follows whichever provider is active when each span starts."""
        return SwitchTracer(
            self, instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )

    def _resolve(
        self, name: str, version: str | None, schema_url: str | None, attrs: types.Attributes
    ) -> tuple[int, trace.Tracer]:
        with self._lock:
            active, generation = self._active, self.generation
        return generation, active.get_tracer(name, version, schema_url, attrs)


class SwitchTracer(trace.Tracer):
    """A tracer bound to a :class:`SwitchTracerProvider` rather than to one SDK provider."""

    def __init__(
        self,
        owner: SwitchTracerProvider,
        name: str,
        version: str | None,
        schema_url: str | None,
        attributes: types.Attributes,
    ) -> None:
        self._owner = owner
        self._args = (name, version, schema_url, attributes)
        self._generation = -1
        self._tracer: trace.Tracer = trace.NoOpTracer()

    def _current(self) -> trace.Tracer:
        if self._generation != self._owner.generation:
            self._generation, self._tracer = self._owner._resolve(*self._args)
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        """Start a span on the active provider's tracer."""
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AbstractContextManager[trace.Span]:
        """Start a span on the active provider's tracer and make it current (a context manager)."""
        return self._current().start_as_current_span(*args, **kwargs)
