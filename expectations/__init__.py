"""Great Expectations suites and the runner the Dagster asset checks use.

`check_raw_source` and `check_standardized` warn; `check_golden` is the blocking gate before publish.
Importing this package does not import Great Expectations (slow); the first check does.
"""

from expectations import gate
from expectations.runner import Check, ExpectationOutcome, SuiteResult, run_suite, validate
from expectations.suites import check_golden, check_raw_source, check_standardized

__all__ = [
    "Check",
    "ExpectationOutcome",
    "SuiteResult",
    "check_golden",
    "check_raw_source",
    "check_standardized",
    "gate",
    "run_suite",
    "validate",
]
