"""The ``sophia`` command line, one module per command group."""
