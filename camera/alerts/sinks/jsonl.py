"""JSON-lines sink: one alert per line, to standard output or a file.

The file is opened for appending (earlier alerts are kept) and each line is
flushed as it is written, so another program can ``tail -f`` it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from pydantic import Field, model_validator

from camera.alerts.base import SinkContext
from camera.configmodel import ConfigModel
from camera.errors import AlertDeliveryError
from camera.types import Alert


class JsonlSink:
    """Writes ``Alert.to_json_dict()`` as one JSON object per line (UTF-8, names unescaped)."""

    name = "jsonl"

    def __init__(self, path: Path | str | None = None) -> None:
        """``path`` ``None`` or ``"-"`` means standard output."""
        self.path = None if path in (None, "-") else Path(path)  # type: ignore[arg-type]
        self._out: TextIO
        if self.path is None:
            self._out = sys.stdout
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._out = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise AlertDeliveryError(f"cannot open {self.path} for alerts: {exc.strerror or exc}") from exc

    def send(self, alert: Alert) -> None:
        try:
            self._out.write(json.dumps(alert.to_json_dict(), ensure_ascii=False) + "\n")
            self._out.flush()
        except (OSError, ValueError) as exc:
            raise AlertDeliveryError(f"jsonl sink: cannot write alert {alert.id}: {exc}") from exc

    def close(self) -> None:
        if self.path is not None and not self._out.closed:
            self._out.close()


class JsonlSinkConfig(ConfigModel):
    """A JSON-lines file of alerts (``jsonl = "PATH"`` or ``"-"`` is short for ``[alerts.jsonl] path = ...``)."""

    path: str = Field(..., min_length=1, description="file to append alerts to, or '-' for standard output")

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, data: object) -> object:
        return {"path": data} if isinstance(data, str) else data

    def sink_name(self, index: int) -> str:
        return "jsonl"

    def build(self, ctx: SinkContext, index: int) -> JsonlSink:
        return JsonlSink(self.path)
