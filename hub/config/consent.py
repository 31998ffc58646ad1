"""The `consent:` block: the purposes consent is asked for, the legal bases a choice may rest on, and which purpose
the sources' own consent fields (and the golden record's consent_<channel> fields) stand for."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from hub.config.base import Strict

DEFAULT_PURPOSES = ["marketing", "service", "profiling"]
DEFAULT_LEGAL_BASES = [
    "consent", "contract", "legitimate_interest", "legal_obligation", "vital_interest", "public_task",
]  # fmt: skip


class ConsentConfig(Strict):
    """Consent is recorded per channel (email, sms, phone, post) and per purpose.

    `source_purpose`: the purpose a source's consent_<channel> columns (and the golden record's consent fields, which
    write-back puts back into them) record; choices for other purposes live in the hub only.
    `do_not_contact_purposes`: the purposes the global do-not-contact flag denies on every channel while it is set.
    `source_legal_basis`: the legal basis of a choice read from a source (a source column says yes or no, not why)."""

    purposes: list[str] = DEFAULT_PURPOSES
    legal_bases: list[str] = DEFAULT_LEGAL_BASES
    source_purpose: str = "marketing"
    do_not_contact_purposes: list[str] = ["marketing"]
    source_legal_basis: str = "consent"

    @field_validator("purposes", "legal_bases")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("name at least one")
        for name in v:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(f"'{name}' must be a lowercase identifier (letters, digits, _)")
        if len(set(v)) != len(v):
            raise ValueError("a name is listed twice")
        return v

    @model_validator(mode="after")
    def _known(self) -> ConsentConfig:
        if self.source_purpose not in self.purposes:
            raise ValueError(f"source_purpose '{self.source_purpose}' is not one of the purposes {self.purposes}")
        if unknown := [p for p in self.do_not_contact_purposes if p not in self.purposes]:
            raise ValueError(f"do_not_contact_purposes {unknown} are not among the purposes {self.purposes}")
        if self.source_legal_basis not in self.legal_bases:
            raise ValueError(f"source_legal_basis '{self.source_legal_basis}' is not one of {self.legal_bases}")
        return self
