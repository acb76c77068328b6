"""The OpenTelemetry instruments of the circuit breakers.

Breakers count their calls in plain integers; these instruments read those totals (and
each breaker's state) at collection time, so a call through a breaker costs no metric
update on the hot path. State changes are counted as they happen.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics

if TYPE_CHECKING:
    from stores.resilience.breaker import CircuitBreaker

_OUTCOME_COUNTS = {
    "success": "successes",
    "failure": "failures",
    "ignored": "ignored",
    "cancelled": "cancelled",
    "rejected": "rejections",
}
"""The ``sophia.breaker.outcome`` values of the calls counter, and the totals they read."""

_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class BreakerInstruments:
    """The OTel instruments all breakers of one meter provider share.

    OTel returns the *existing* instrument when a name is registered twice, dropping the
    second gauge callback, so the instruments are made once per provider and the gauge
    callback reports every live breaker registered here.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self._breakers: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()
        self._transitions = meter.create_counter(
            "sophia.breaker.state_changes",
            unit="{change}",
            description="Circuit breaker state changes, by breaker and from/to state.",
        )
        # Observed from each breaker's own totals at collection time: a call through a
        # breaker costs no metric update on the hot path.
        meter.create_observable_counter(
            "sophia.breaker.calls",
            callbacks=[self._observe_calls],
            unit="{call}",
            description="Calls through circuit breakers, by breaker and outcome "
            "(success, failure, ignored, cancelled, rejected).",
        )
        meter.create_observable_gauge(
            "sophia.breaker.state",
            callbacks=[self._observe],
            description="Circuit breaker state: 0 closed, 1 half_open, 2 open.",
        )

    def register(self, breaker: CircuitBreaker) -> None:
        """Report ``breaker`` in the state gauge for as long as it lives."""
        self._breakers.add(breaker)

    def record_transition(self, name: str, old: str, new: str) -> None:
        """Count one state change."""
        self._transitions.add(
            1, {"sophia.breaker.name": name, "sophia.breaker.from": old, "sophia.breaker.to": new}
        )

    def _observe_calls(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        totals: dict[tuple[str, str], int] = {}
        for breaker in list(self._breakers):
            counts = breaker.counts()
            for outcome, key in _OUTCOME_COUNTS.items():
                if counts[key]:
                    slot = (breaker.name, outcome)
                    totals[slot] = totals.get(slot, 0) + counts[key]
        for (name, outcome), value in totals.items():
            yield metrics.Observation(
                value, {"sophia.breaker.name": name, "sophia.breaker.outcome": outcome}
            )

    def _observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for breaker in list(self._breakers):
            state = breaker.peek_state()
            yield metrics.Observation(
                _STATE_VALUES[state],
                {"sophia.breaker.name": breaker.name, "sophia.breaker.state": state.value},
            )


# Instruments are cached per meter provider (None: the global one). No I/O happens here;
# the global API meter is a no-op proxy until telemetry.configure() installs a provider.
_instruments_lock = threading.Lock()
_global_instruments: list[BreakerInstruments] = []
_provider_instruments: weakref.WeakKeyDictionary[Any, BreakerInstruments] = (
    weakref.WeakKeyDictionary()
)


def instruments_for(meter_provider: Any = None) -> BreakerInstruments:
    """The shared breaker instruments of ``meter_provider`` (None: the global provider)."""
    with _instruments_lock:
        if meter_provider is None:
            if not _global_instruments:
                _global_instruments.append(
                    BreakerInstruments(metrics.get_meter("sophia.resilience"))
                )
            return _global_instruments[0]
        found = _provider_instruments.get(meter_provider)
        if found is None:
            found = BreakerInstruments(meter_provider.get_meter("sophia.resilience"))
            _provider_instruments[meter_provider] = found
        return found
