"""What every hub.yaml block shares: the error naming the key, and models that refuse unknown keys."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hub.errors import HubError


class ConfigError(HubError):
    """A hub.yaml problem: `key` is the dotted path, `reason` what is wrong with it."""

    exit_code = 2

    def __init__(self, key: str, reason: str, path: Path | None = None):
        self.key, self.reason, self.path = key, reason, path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{key or '<top level>'}: {reason}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
