"""A benchmark-only workaround for the hub's first run failing on data without some field: skip the
EM training sessions whose blocking rule finds no pairs (FEBRL has no e-mail, so the session
blocked on `email_std` has nothing to learn from and Splink raises).

Patched in this process only, for the length of a `with` block; the hub itself is unchanged. It
lets a benchmark report what the rest of the matcher (blocking, comparisons, prior) does on such
data, beside the failure a user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

from blocking_ceiling import comparisons
from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator

from matching import settings
from matching.backend import DuckDBSplinkBackend


@contextmanager
def skip_empty_training_rules(skipped: list[str]) -> Iterator[None]:
    """Within the block, training leaves out EM sessions without pairs; their SQL goes to `skipped`."""
    train = DuckDBSplinkBackend.train

    def patched(self: DuckDBSplinkBackend, records_table: str, progress: Callable[[str], None] | None = None):
        rules = settings.training_blocking_rules()
        sqls = [to_blocking_rule_creator(r).get_blocking_rule("duckdb").blocking_rule_sql for r in rules]
        found = [comparisons(self.con, records_table, [sql], 0) > 0 for sql in sqls]
        kept = [r for r, f in zip(rules, found, strict=True) if f]
        skipped.extend(sql for sql, f in zip(sqls, found, strict=True) if not f)
        with mock.patch.object(settings, "training_blocking_rules", lambda: kept):
            return train(self, records_table, progress)

    with mock.patch.object(DuckDBSplinkBackend, "train", patched):
        yield
