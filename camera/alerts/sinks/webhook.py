"""Webhook sink: HTTP POST of the alert's JSON, with a deadline, a reply limit and retries.

Each attempt must finish within ``timeout_s`` seconds in all (connecting,
sending, the reply's status, headers and body), so a server that answers a
byte a second fails the attempt instead of stalling the sink; at most
:data:`MAX_REPLY_BYTES` of a reply are read, so an endless reply cannot fill
memory. A 2xx answer is a delivery. Redirects: 307 and 308 (which keep the
method and the body) are followed, at most :data:`MAX_REDIRECTS` times, to
the same host (``http`` may become ``https``); 301, 302 and 303 (which turn a
POST into a body-less GET) and any other redirect are a failed delivery
saying where to point ``url``, never a silent success. 4xx other than
408/429 is not retried here (the request itself is wrong); 5xx, 408, 429,
redirects that are refused and connection errors are. Retries back off
exponentially (``backoff_s``, doubling); the outbox retries after that.
URLs in errors and logs pass through :func:`camera.redact.redact_url`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import AlertDeliveryError
from camera.redact import redact_url
from camera.types import Alert

log = logging.getLogger(__name__)

#: bytes of a reply read at most (the rest is not read: the connection is closed)
MAX_REPLY_BYTES = 64 * 1024
#: 307/308 redirects followed at most
MAX_REDIRECTS = 3
#: statuses that are worth retrying at once
RETRY = {408, 429}


class WebhookSink:
    """POSTs ``Alert.to_json_dict()`` to ``url`` (``timeout_s`` per attempt in all, ``retries`` extra attempts)."""

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5,
                 headers: dict[str, str] | None = None, name: str = "webhook") -> None:
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError(f"webhook url must be http:// or https:// with a host, got {redact_url(url)!r}")
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
            try:
                status = self._post(body)
            except (OSError, http.client.HTTPException) as exc:
                last = str(exc) or type(exc).__name__
            else:
                if 200 <= status < 300:
                    return
                last = f"HTTP {status}"
                if 400 <= status < 500 and status not in RETRY:
                    break
            log.debug("%s: attempt %d for alert %s failed: %s", self.name, attempt + 1, alert.id, last)
        raise AlertDeliveryError(f"{self.name}: POST {redact_url(self.url)} failed for alert {alert.id}: {last}")

    def close(self) -> None:
        pass

    def _post(self, body: bytes) -> int:
        """One attempt, redirects included, within ``timeout_s``; the final status (``OSError`` on failure)."""
        deadline = time.monotonic() + self.timeout_s
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            status, location = _request(url, body, self.headers, deadline)
            if status not in (301, 302, 303, 307, 308):
                return status
            target = urljoin(url, location or "")
            if status in (301, 302, 303):
                raise OSError(f"HTTP {status} redirect to {redact_url(target)}, which would turn the POST into a GET "
                              "without the alert: set the webhook's url to that address")
            if not _same_site(url, target):
                raise OSError(f"HTTP {status} redirect to another host ({redact_url(target)}) not followed: set the "
                              "webhook's url to it if it is right")
            url = target
        raise OSError(f"more than {MAX_REDIRECTS} redirects")


def _same_site(a: str, b: str) -> bool:
    """Whether ``b`` is on ``a``'s host and port (or ``https`` on the same host): a redirect facecam follows."""
    sa, sb = urlsplit(a), urlsplit(b)
    if sb.scheme not in ("http", "https") or (sa.hostname or "").lower() != (sb.hostname or "").lower():
        return False
    return (sa.scheme, sa.port) == (sb.scheme, sb.port) or sb.scheme == "https"


def _request(url: str, body: bytes, headers: dict[str, str], deadline: float) -> tuple[int, str | None]:
    """POST ``body`` to ``url``; the status and ``Location``. Closed by a watchdog at ``deadline`` (monotonic s)."""
    u = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out")
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = cls(u.hostname or "", u.port, timeout=remaining)
    expired = threading.Event()

    def cut() -> None:  # the whole attempt ran past its deadline (a drip-feeding server): end it
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(remaining, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", (u.path or "/") + (f"?{u.query}" if u.query else ""), body,
                     {**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        resp.read(MAX_REPLY_BYTES)  # a reply longer than this is not read further
        return resp.status, resp.getheader("Location")
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise TimeoutError("the server took longer than timeout_s to answer") from exc
        raise
    finally:
        watchdog.cancel()
        conn.close()


class WebhookSinkConfig(ConfigModel):
    """HTTP POST of each alert's JSON."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
                             description="sink name for rules (default webhook, webhook-2, ...)")
    url: str = Field(..., pattern=r"^https?://", description="endpoint (http:// or https://)")
    timeout_s: float = Field(5.0, gt=0, le=120, description="seconds per attempt")
    retries: int = Field(3, ge=0, le=20, description="extra attempts after a failure")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")

    @field_validator("headers")
    @classmethod
    def _one_line(cls, v: dict[str, str]) -> dict[str, str]:
        for k, value in v.items():
            if not k or any(c in k for c in ":\r\n ") or any(c in value for c in "\r\n\x00"):
                raise ValueError(f"header {k!r}: names are one word and values one line (no CR, LF or NUL)")
        return v

    def sink_name(self, index: int) -> str:
        """``name``, else ``webhook`` for the first, ``webhook-2`` for the second, ..."""
        return self.name or ("webhook" if index == 0 else f"webhook-{index + 1}")

    def build(self, ctx: SinkContext, index: int) -> WebhookSink:
        return WebhookSink(self.url, self.timeout_s, self.retries, headers=self.headers, name=self.sink_name(index))
