"""Resilience: circuit breakers, guards, retries and error classification."""
