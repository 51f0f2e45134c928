"""Alerts: where decisions leave facecam.

An alert passes the routing rules (:mod:`camera.alerts.rules`), is stored in
the durable outbox (:mod:`camera.alerts.outbox`) and is delivered by one
worker per sink (:mod:`camera.alerts.sinks`). Sinks only publish: presence and
cooldowns are decided before them (:mod:`camera.alerts.cooldown`).
"""
