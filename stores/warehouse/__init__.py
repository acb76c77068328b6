"""The pooled warehouse: Warehouse, its pool, batch loader, catalogue and backends."""
