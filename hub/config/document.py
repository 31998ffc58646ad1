"""HubConfig: a whole hub.yaml, its blocks and the lookups that need more than one of them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from hub.config.access import AccessConfig
from hub.config.base import Strict
from hub.config.consent import ConsentConfig
from hub.config.encryption import EncryptionConfig
from hub.config.matching import MatchingConfig
from hub.config.retention import RetentionConfig
from hub.config.running import ApiConfig, PipelineConfig, PullConfig, WritebackConfig
from hub.config.sources import DEFAULT_POLICY, FieldMapping, SourceConfig, default_transform
from hub.config.subjects import SubjectsConfig
from hub.config.survivorship import ADDRESS_BLOCK, SurvivorshipConfig
from hub.model import ATTRIBUTE_NAMES, ATTRIBUTE_TYPES, CONSENT_FIELDS, FieldType

_DUCKDB_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_LEAST_MEMORY = 256 * 2**20  # a floor: less is most likely a slip of the unit (MB for GB)


class HubConfig(Strict):
    workspace: Path = Path(".hub/workspace.duckdb")
    # DuckDB's memory for the workspace (e.g. "3GB"): past it, joins, aggregates and sorts spill to <workspace>.tmp
    # instead of keeping buffers. Unset: DuckDB's own default, 80% of the machine's memory.
    workspace_memory_limit: str | None = None
    serving_store: str = "sqlite:///.hub/serving.db"
    chunk_size: int = Field(50_000, gt=0)
    attributes: dict[str, FieldType] = {}
    matching: MatchingConfig = MatchingConfig()
    survivorship: SurvivorshipConfig = SurvivorshipConfig()
    pipeline: PipelineConfig = PipelineConfig()
    pull: PullConfig = PullConfig()
    writeback: WritebackConfig = WritebackConfig()
    api: ApiConfig = ApiConfig()
    subjects: SubjectsConfig = SubjectsConfig()
    access: AccessConfig = AccessConfig()
    retention: RetentionConfig = RetentionConfig()
    encryption: EncryptionConfig = EncryptionConfig(enabled=False)
    consent: ConsentConfig = ConsentConfig()
    sources: dict[str, SourceConfig]

    @field_validator("sources")
    @classmethod
    def _names(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not v:
            raise ValueError("declare at least one source")
        for name in v:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(f"source name '{name}' must be a lowercase identifier (letters, digits, _)")
        return v

    @field_validator("workspace_memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is None:
            return None
        size = _DUCKDB_SIZE.match(v.strip())
        if not size:
            raise ValueError(f"'{v}' is not a memory size: a number and a unit, e.g. 3GB, 2.5GiB, 800MB")
        if float(size[1]) * _UNITS[size[2]] < _LEAST_MEMORY:
            raise ValueError(f"'{v}' is too little for the workspace: give it at least 256MiB")
        return v.strip()

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, v: dict[str, FieldType]) -> dict[str, FieldType]:
        for name in v:
            if name in ATTRIBUTE_NAMES or name in ("source_system", "source_key", "source_updated_at"):
                raise ValueError(f"extra attribute '{name}' clashes with a canonical field")
            if not name.isidentifier():
                raise ValueError(f"extra attribute '{name}' must be an identifier")
        return v

    def field_type(self, name: str) -> FieldType | None:
        return ATTRIBUTE_TYPES.get(name) or self.attributes.get(name)

    def transform_for(self, name: str, m: FieldMapping) -> str:
        """The transform field `name` is read with: the mapping's own, else the default for its name and type
        (every mapped field has a type once check_fields passed)."""
        if m.transform:
            return m.transform
        ftype = self.field_type(name)
        if ftype is None:
            raise KeyError(f"'{name}' is not a canonical field nor an extra attribute")
        return default_transform(name, ftype)

    def policy_for(self, source: str, field: str) -> str:
        """Write-back policy of `field` (a canonical field, an extra attribute or `address`) in `source`: the
        source's own, else hub.yaml's `writeback.policy`, else DEFAULT_POLICY, else `fill`. A consent time follows
        its consent choice."""
        field = field.removesuffix("_at") if field.removesuffix("_at") in CONSENT_FIELDS else field
        field = "address" if field in ADDRESS_BLOCK else field
        return (
            self.sources[source].policy.get(field)
            or self.writeback.policy.get(field)
            or DEFAULT_POLICY.get(field, "fill")
        )
