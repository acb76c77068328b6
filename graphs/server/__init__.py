"""The HTTP service behind ``sophia serve``."""
