"""The performance dashboard: its data, routes and static page."""
