"""``[household]``: this node's place in a household of facecam nodes sharing one MQTT broker."""

from __future__ import annotations

from pydantic import Field, field_validator

from camera.broker import BrokerConfig

#: a node's name: also a topic level and a client id part
NODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class HouseholdConfig(BrokerConfig):
    """This node in the household (docs/scale-out.md); the broker keys are
    :class:`~camera.broker.BrokerConfig`'s, as for ``[[alerts.mqtt]]``."""

    node: str = Field(..., pattern=NODE_PATTERN, description="this node's name, unique in the household "
                      "(e.g. back_door)")
    base_topic: str = Field("facecam/household", min_length=1, max_length=200,
                            description="topic prefix of the household's messages")
    share_people: bool = Field(True, description="publish the people enrolled on this node (their photos and "
                               "embeddings, retained) so the other nodes recognise them; false: none leave this "
                               "node (and those published before are withdrawn)")
    startup_wait_s: float = Field(10.0, ge=0, le=300, description="at start, wait at most this many seconds for "
                                  "the other nodes' people before recognising (the sync goes on afterwards)")
    max_record_mb: float = Field(16.0, gt=0, le=256, description="largest person record (their photos, base64, "
                                 "and embeddings) published or accepted, in MB (10^6 bytes)")

    @field_validator("base_topic")
    @classmethod
    def _plain_topic(cls, v: str) -> str:
        if any(c in v for c in "+#\x00") or v.startswith("/") or v.endswith("/"):
            raise ValueError(f"expected a topic without +, #, NUL or edge slashes, got {v!r}")
        return v
