"""Chat models and embedders the engine can be configured with (Snowflake Cortex)."""
