"""Data-subject requests: the `subjects:` block (the key of the suppression list, the answer deadline, what a later
pull compares with it) and a source's `erasure:` block (what `hub subject erase` does in that source)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hub.config.base import Strict

# What identifies an erased person in a later pull: their source keys, e-mail, phone, name with date of birth.
SUPPRESS_KINDS = ("source_key", "email", "phone", "name_dob")
SuppressKind = Literal["source_key", "email", "phone", "name_dob"]
ERASURE_ACTIONS = ("task", "null_fields", "statement", "flag")
# What `null_fields` nulls when its `fields` are not given: the fields that identify a person (of those mapped).
PERSONAL_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone", "address_line1", "address_line2",
                   "city", "region", "postal_code")  # fmt: skip


class SubjectsConfig(Strict):
    """`key_file`: a file holding the secret the suppression list is keyed with (HMAC-SHA256), read when
    $HUB_PRIVACY_KEY is not set. `due_days`: a request's due date after it is received. `suppress_by`: which of an
    erased person's identifiers make a later pull skip a row (any one of them matching)."""

    key_file: Path | None = None
    due_days: int = Field(30, ge=1)
    suppress_by: list[SuppressKind] = ["source_key", "email", "phone", "name_dob"]

    @model_validator(mode="after")
    def _some_kind(self) -> SubjectsConfig:
        if not self.suppress_by:
            raise ValueError("'suppress_by' needs at least one of " + ", ".join(SUPPRESS_KINDS))
        return self


class ErasureAction(Strict):
    """What erasing a person does in one source, by primary key: `task` (the default) only reports the rows for a
    person to erase; `null_fields` sets the mapped columns of `fields` (default: the personal fields mapped,
    PERSONAL_FIELDS) to NULL; `statement` runs `sql`, a parameterized statement taking `:source_key`, once per
    row; `flag` sets `column` to `value`. The hub never deletes a source row unless a statement says so."""

    action: Literal["task", "null_fields", "statement", "flag"] = "task"
    fields: list[str] | None = None
    sql: str | None = None
    column: str | None = None
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _options_fit_action(self) -> ErasureAction:
        wanted = {"task": set(), "null_fields": {"fields"}, "statement": {"sql"}, "flag": {"column", "value"}}[
            self.action
        ]
        extra = sorted(k for k in self.model_fields_set - {"action"} if k not in wanted)
        if extra:
            raise ValueError(f"option(s) {extra} do not apply to erasure action '{self.action}'")
        if self.action == "statement" and (not self.sql or ":source_key" not in self.sql):
            raise ValueError("erasure action 'statement' needs 'sql' with the parameter :source_key")
        if self.action == "flag" and (not self.column or "value" not in self.model_fields_set):
            raise ValueError("erasure action 'flag' needs 'column' and 'value'")
        return self
