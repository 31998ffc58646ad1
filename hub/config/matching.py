"""The `matching:` block: thresholds, link type, and the comparisons, blocking and training the plan is built
from (matching/plan.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.config.base import Strict


class ComparisonConfig(Strict):
    """One comparison of the match model: which of its levels (default: all the records can use) and whether
    its exact levels are term-frequency adjusted (default: as the comparison library says)."""

    levels: list[str] | None = None
    term_frequencies: bool | None = None


LinkType = Literal["dedupe_only", "link_only", "link_and_dedupe"]
BlockingRule = str | list[str]  # SQL over l. / r. standardized columns, or key expressions equal on both sides


class TrainingConfig(Strict):
    em_blocking_rules: list[BlockingRule] | None = None  # default: chosen so every comparison is estimated
    deterministic_rules: list[BlockingRule] | None = None  # near-certain matches: where the prior starts from


class MatchingConfig(Strict):
    """How records are matched. Comparisons, blocking and training default to a plan built from what the records
    hold (matching/plan.py; `hub config check` prints it); names and columns are checked when the plan is made."""

    auto_match_threshold: float = Field(0.95, ge=0, le=1)
    review_threshold: float = Field(0.70, ge=0, le=1)
    link_type: LinkType = "dedupe_only"
    comparisons: dict[str, ComparisonConfig | None] | None = None
    blocking_rules: list[BlockingRule] | None = None
    training: TrainingConfig = TrainingConfig()

    @field_validator("blocking_rules")
    @classmethod
    def _some_rules(cls, v: list[BlockingRule] | None) -> list[BlockingRule] | None:
        if v is not None and not v:
            raise ValueError("give at least one blocking rule, or leave the key out for the default plan")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> MatchingConfig:
        if self.review_threshold > self.auto_match_threshold:
            raise ValueError("review_threshold must not be above auto_match_threshold")
        return self
