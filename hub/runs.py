"""What a pipeline run reports, as the entry points (`hub run`, `hub review apply`, the API's apply runner) read it.

The pipelines layer makes these (pipelines.run.PipelineSummary); hub/ only reads them, so it states here what it
reads instead of importing the layer above it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class CheckOutcome(Protocol):
    """One expectation check of the run."""

    asset: str
    passed: bool
    blocking: bool
    summary: str


class RunSummary(Protocol):
    """One Dagster run: its per-asset materialization metadata, its checks and what failed or never started."""

    run_id: str
    success: bool
    sources: list[str]
    metadata: dict[str, dict[str, Any]]  # asset name -> metadata values
    skipped_steps: list[str]
    errors: list[str]
    dry_run: bool

    @property
    def checks(self) -> Sequence[CheckOutcome]:
        """Read-only here, so a list of any class that has CheckOutcome's attributes will do."""
        ...

    @property
    def blocked(self) -> bool:
        """A blocking check failed, so publish and write-back did not run."""
        ...

    def value(self, asset: str, key: str, default: Any = None) -> Any: ...
