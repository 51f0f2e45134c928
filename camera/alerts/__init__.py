"""Alert sinks: where decisions leave facecam. See :mod:`camera.alerts.base` for the protocol."""

from camera.alerts.base import AlertSink
from camera.alerts.command import CommandSink
from camera.alerts.jsonl import JsonlSink
from camera.alerts.webhook import WebhookSink

__all__ = ["AlertSink", "CommandSink", "JsonlSink", "WebhookSink"]
