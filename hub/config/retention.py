"""The `retention:` block: how many days the serving store keeps what piles up (hub.store.retention purges it).

Each setting is a number of days, or absent to keep everything (the default but for the PII read log). Golden
history keeps every current version whatever its age: only versions superseded more than
`golden_history_days` ago are purged.
"""

from __future__ import annotations

from pydantic import Field

from hub.config.base import Strict


class RetentionConfig(Strict):
    golden_history_days: int | None = Field(None, ge=1)  # superseded golden-record versions
    writeback_audit_days: int | None = Field(None, ge=1)  # write-back audit rows (old -> new values)
    pii_reads_days: int | None = Field(365, ge=1)  # the PII read log
    request_log_days: int | None = Field(None, ge=1)  # the data-subject request log (by when a request was received)

    def days(self) -> dict[str, int | None]:
        """Setting name -> days (None: kept forever)."""
        return {name: getattr(self, name) for name in type(self).model_fields}
