"""What a pipeline selection defaults to (no imports: the input model reads it cheaply)."""

DEFAULT_LIMIT = 50
"""At most this many deals a selection picks when it gives no ``limit``."""
