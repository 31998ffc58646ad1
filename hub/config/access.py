"""The `access:` block: what each role and each API key may see of a golden record (hub/access.py enforces it).

A policy names, per field (a canonical attribute or an extra attribute of hub.yaml), `full`, `masked` or
`hidden`; a field it does not name gets its `default`. `sources` (optional) limits it to the customers of those
source systems: a golden record is visible when any of its source records comes from one of them.

A key's policy is the one under `keys:` with its name or its id, else its role's under `roles:`, else the
block's `default` policy. With no `access:` block every key sees every field of every customer, as before.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.config.base import Strict

Level = Literal["full", "masked", "hidden"]
# The API's roles (hub.api.keys.ROLES; tests/test_access.py keeps the two equal): hub/config loads without FastAPI.
Role = Literal["reader", "steward", "privacy", "admin"]
LEVELS: tuple[Level, ...] = ("full", "masked", "hidden")
# What the read log (hub.store.pii_reads) counts as personal data when no `pii_fields` are given.
DEFAULT_PII_FIELDS = (
    "first_name", "last_name", "date_of_birth", "email", "phone", "address_line1", "address_line2", "city",
    "postal_code",
)  # fmt: skip


class AccessPolicy(Strict):
    """What one role or key sees: `fields` per name, `default` for the rest, and optionally only the customers
    of `sources`."""

    default: Level = "full"
    fields: dict[str, Level] = {}
    sources: list[str] | None = None

    @field_validator("sources")
    @classmethod
    def _some(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("name at least one source system, or leave the key out to see every source's customers")
        return v


class AccessConfig(Strict):
    """Policies per role (`roles:`) and per API key (`keys:`, by key name or key id); `default` for a key that
    neither names. `pii_fields`: the fields whose reads the PII read log records."""

    default: AccessPolicy = AccessPolicy()
    roles: dict[Role, AccessPolicy] = {}
    keys: dict[str, AccessPolicy] = {}
    pii_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_PII_FIELDS))
    log_reads: bool = True  # record every API read of PII fields in the serving store (hub.store.pii_reads)
