"""Webhook sink: HTTP POST of the alert's JSON, with a timeout and retries.

Retries back off exponentially (``backoff_s``, doubling). A 2xx answer is a
delivery; 4xx other than 408/429 is not retried (the request itself is
wrong); 5xx, 408, 429 and connection errors are.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from pydantic import Field

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import AlertDeliveryError
from camera.types import Alert

log = logging.getLogger(__name__)


class WebhookSink:
    """POSTs ``Alert.to_json_dict()`` to ``url`` (``timeout_s`` per attempt, ``retries`` extra attempts)."""

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5,
                 headers: dict[str, str] | None = None, name: str = "webhook") -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {url!r}")
        self.url, self.timeout_s, self.retries, self.backoff_s = url, timeout_s, retries, backoff_s
        self.headers = {"Content-Type": "application/json; charset=utf-8",
                        "User-Agent": "facecam", **(headers or {})}
        self.name = name

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json_dict(), ensure_ascii=False).encode()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read()
                    return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            log.debug("%s: attempt %d for alert %s failed: %s", self.name, attempt + 1, alert.id, last)
        raise AlertDeliveryError(f"{self.name}: POST {self.url} failed for alert {alert.id}: {last}")

    def close(self) -> None:
        pass


class WebhookSinkConfig(ConfigModel):
    """HTTP POST of each alert's JSON."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                             description="sink name for rules (default webhook, webhook-2, ...)")
    url: str = Field(..., pattern=r"^https?://", description="endpoint (http:// or https://)")
    timeout_s: float = Field(5.0, gt=0, le=120, description="seconds per attempt")
    retries: int = Field(3, ge=0, le=20, description="extra attempts after a failure")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")

    def sink_name(self, index: int) -> str:
        """``name``, else ``webhook`` for the first, ``webhook-2`` for the second, ..."""
        return self.name or ("webhook" if index == 0 else f"webhook-{index + 1}")

    def build(self, ctx: SinkContext, index: int) -> WebhookSink:
        return WebhookSink(self.url, self.timeout_s, self.retries, headers=self.headers, name=self.sink_name(index))
