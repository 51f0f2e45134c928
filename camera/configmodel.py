"""The base of every configuration model: unknown keys are errors and values never change after loading.

Each stage defines its own model (``camera/detect/config.py``,
``camera/motion/config.py``, ...) on this base and reads it as it is;
``camera/config.py`` assembles them into the one TOML file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A frozen pydantic model that forbids unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def overridden_by(self, override: ConfigModel | None) -> ConfigModel:
        """A copy with the keys ``override`` sets explicitly (``model_fields_set``) applied on top."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(include=override.model_fields_set))
