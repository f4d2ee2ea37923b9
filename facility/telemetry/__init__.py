"""Telemetry to an InfluxDB-v2-write server, with a bounded on-disk buffer for outages.

- :mod:`facility.telemetry.points`: bus messages -> line-protocol points (converters as data,
  ``KNOWN_SERIES`` for dashboards to check against).
- :mod:`facility.telemetry.buffer`: bounded, crash-safe FIFO of line-protocol batches on disk.
- :mod:`facility.telemetry.writer`: the bus subscriber that batches, writes, buffers and replays.
"""
