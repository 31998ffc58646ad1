"""hub.yaml: the one place a data engineer declares sources, matching and serving.

Validated with pydantic; any problem raises ConfigError naming the key path and the reason, and
the CLI turns that into exit code 2. Relative paths (and relative SQLite URLs) are resolved
against the directory of the hub.yaml file, so a config works from any working directory.

Callers import from `hub.config`; the modules behind it each hold one part of the schema:

base          ConfigError, and the strict model every block is built on
sources       `sources:`: location, column mappings and transforms, what write-back may put back
matching      `matching:`: thresholds and the comparisons, blocking and training of the match plan
consent       `consent:`: purposes and legal bases of consent choices
survivorship  `survivorship:`: the rules that decide each golden value
running       `pipeline:`, `pull:`, `writeback:` and `api:`: how the hub runs
subjects      `subjects:` and a source's `erasure:`: data-subject requests
access        `access:`: which fields and which sources' customers each role and API key sees
retention     `retention:`: how long the serving store keeps history, audit and logs
encryption    `encryption:`: where the key for encryption at rest comes from
document      HubConfig: the whole file
checks        the cross-field rules pydantic cannot see one model at a time
load          reading, validating and resolving a hub.yaml
"""

from hub.config.access import LEVELS, AccessConfig, AccessPolicy
from hub.config.base import ConfigError
from hub.config.consent import ConsentConfig
from hub.config.document import HubConfig
from hub.config.encryption import EncryptionConfig
from hub.config.load import load_config, resolve_sqlite_url
from hub.config.matching import BlockingRule, ComparisonConfig, LinkType, MatchingConfig, TrainingConfig
from hub.config.retention import RetentionConfig
from hub.config.running import ApiConfig, PipelineConfig, PullConfig, WritebackConfig
from hub.config.sources import (
    ADDRESS_PARTS,
    CASED_FIELDS,
    DEFAULT_POLICY,
    DEFAULT_TRANSFORM,
    DEFAULT_TRANSFORM_BY_FIELD,
    FIELD_TRANSFORMS,
    FIELD_WRITE_FORMATS,
    NAME_FIELDS,
    POLICIES,
    TRANSFORM_OPTIONS,
    TRANSFORMS,
    TYPE_TRANSFORMS,
    WRITE_FORMATS,
    FieldMapping,
    GoldenIdTarget,
    Policy,
    SourceConfig,
    Transform,
    WriteFormat,
    default_transform,
    split_table,
)
from hub.config.subjects import SUPPRESS_KINDS, ErasureAction, SubjectsConfig
from hub.config.survivorship import ADDRESS_BLOCK, DEFAULT_RULES, RULES, Rule, SurvivorshipConfig

__all__ = [
    "ADDRESS_BLOCK",
    "ADDRESS_PARTS",
    "CASED_FIELDS",
    "DEFAULT_POLICY",
    "DEFAULT_RULES",
    "DEFAULT_TRANSFORM",
    "DEFAULT_TRANSFORM_BY_FIELD",
    "FIELD_TRANSFORMS",
    "FIELD_WRITE_FORMATS",
    "LEVELS",
    "NAME_FIELDS",
    "POLICIES",
    "RULES",
    "SUPPRESS_KINDS",
    "TRANSFORMS",
    "TRANSFORM_OPTIONS",
    "TYPE_TRANSFORMS",
    "WRITE_FORMATS",
    "AccessConfig",
    "AccessPolicy",
    "ApiConfig",
    "BlockingRule",
    "ComparisonConfig",
    "ConfigError",
    "ConsentConfig",
    "EncryptionConfig",
    "ErasureAction",
    "FieldMapping",
    "GoldenIdTarget",
    "HubConfig",
    "LinkType",
    "MatchingConfig",
    "PipelineConfig",
    "Policy",
    "PullConfig",
    "RetentionConfig",
    "Rule",
    "SourceConfig",
    "SubjectsConfig",
    "SurvivorshipConfig",
    "TrainingConfig",
    "Transform",
    "WriteFormat",
    "WritebackConfig",
    "default_transform",
    "load_config",
    "resolve_sqlite_url",
    "split_table",
]
