"""The Engine: its lifetime, the graph registry, run bookkeeping and the runs log."""
