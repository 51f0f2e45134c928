"""Alert sinks, one module each: jsonl, command, webhook, mqtt, desktop, stream (and memory, for code).

Each module holds the sink and its ``*SinkConfig`` (with ``sink_name`` and
``build``); :class:`camera.alerts.config.AlertsConfig` lists the configurable ones.
"""
