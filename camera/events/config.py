"""The visit log's and presence's settings (``[events]``, ``[presence]``)."""

from __future__ import annotations

from pydantic import Field

from camera.configmodel import ConfigModel


class EventsConfig(ConfigModel):
    """The visit log in DATA_DIR/events.sqlite3 with pictures in DATA_DIR/events/ (camera/events/store.py)."""

    known_images: bool = Field(True, description="keep snapshots and face crops of household members "
                               "(false: only of unknown faces; privacy)")
    retain_days: float = Field(30.0, gt=0, le=36500, description="events older than this many days are deleted")
    max_disk_mb: float = Field(2000.0, gt=0, le=10_000_000, description="pictures take at most this many MB; "
                               "the oldest events go first")
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of snapshots and crops")


class PresenceConfig(ConfigModel):
    """Who is home (camera/events/presence.py)."""

    away_after_s: float = Field(600.0, gt=0, le=7 * 86400, description="a person 'left' after this many seconds "
                                "unseen on the camera's clock")
