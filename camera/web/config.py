"""The web app's settings (``[web]``; ``facecam run --web [HOST:]PORT``, ``facecam web``)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from camera.configmodel import ConfigModel


class WebConfig(ConfigModel):
    """The web app and REST API, served by the daemon (or by ``facecam web`` without cameras)."""

    enabled: bool = Field(False, description="serve the web app from `facecam run` (also: --web)")
    host: str = Field("127.0.0.1", min_length=1, max_length=255,
                      description="address to listen on; anything but loopback needs at least one account")
    port: int = Field(8080, ge=1, le=65535, description="TCP port")
    max_upload_mb: float = Field(10.0, gt=0, le=100, description="largest photo upload, in MB (10^6 bytes)")
    live_fps: float = Field(5.0, gt=0, le=30, description="frames per second of the live view, per client")
    secure_cookies: bool = Field(False, description="mark the session cookie Secure (set when served over HTTPS "
                                 "through a reverse proxy)")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if any(c.isspace() or c in "/@[]" for c in v):
            raise ValueError(f"host {v!r}: give an address or a host name, like 127.0.0.1, 0.0.0.0 or ::1")
        return v

    @property
    def loopback(self) -> bool:
        """Whether the server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_listen(text: str) -> dict[str, object]:
    """``--web [HOST:]PORT`` as config keys (``{"host": ..., "port": ...}``); ValueError if malformed."""
    host, _, port = text.rpartition(":")
    if not (port.isascii() and port.isdigit() and len(port) <= 5):  # not "²", which int() refuses
        raise ValueError(f"--web {text!r}: expected [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080")
    out: dict[str, object] = {"port": int(port), "enabled": True}
    if host:
        out["host"] = host.strip("[]")
    return out
