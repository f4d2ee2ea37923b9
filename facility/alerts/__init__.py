"""Alerting: rules over bus messages, an engine, a SQLite history and delivery sinks."""
