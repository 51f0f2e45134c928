"""How facecam reaches an MQTT broker: the connection settings every MQTT user shares.

``[[alerts.mqtt]]`` (the alert sink) and ``[household]`` (nodes sharing
people and presence) both connect to the home's broker with the same keys:
``host``, ``port`` (TCP), ``username``, ``password_env``, ``tls`` and
``ca_certs``. The password is never a config value: ``password_env`` names
the environment variable that holds it, it is read when the client is
built, and it is never logged or shown (the settings page shows the
variable's name only).
"""

from __future__ import annotations

import os

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field

from camera.configmodel import ConfigModel
from camera.errors import ConfigError


class BrokerConfig(ConfigModel):
    """Where the MQTT broker is and how to log in (shared by every MQTT user's settings)."""

    host: str = Field("127.0.0.1", min_length=1, description="broker host")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(None, description="broker user name")
    password_env: str | None = Field(None, description="environment variable that holds the password")
    tls: bool = Field(False, description="connect with TLS")
    ca_certs: str | None = Field(None, description="CA bundle for TLS")

    def read_password(self, where: str) -> str | None:
        """The password from ``password_env`` (``None`` without one); ConfigError naming ``where`` when unset."""
        if not self.password_env:
            return None
        if self.password_env not in os.environ:
            raise ConfigError(f"{where}: the environment variable {self.password_env} (password_env) is not set")
        return os.environ[self.password_env]

    def new_client(self, client_id: str, password: str | None, reconnect_min_s: float = 1.0,
                   reconnect_max_s: float = 60.0) -> mqtt.Client:
        """A paho client with these credentials and TLS, reconnecting by itself with backoff (seconds).

        Nothing connects yet: set callbacks and the last will, then call ``connect_async`` and ``loop_start``.
        """
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if self.username is not None:
            c.username_pw_set(self.username, password)
        if self.tls:
            c.tls_set(ca_certs=self.ca_certs)
        # paho annotates the delays as int but computes with them as floats (seconds)
        c.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)  # type: ignore[arg-type]
        return c
