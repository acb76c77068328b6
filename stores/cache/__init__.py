"""The two-tier cache: a bounded in-process L1 over a Redis L2."""
