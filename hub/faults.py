"""Named fault points, for the crash and concurrency tests.

`HUB_TEST_KILL_AT=<point>` makes the process kill itself with SIGKILL the first time it reaches that point: no
exception handler, rollback or cleanup runs, as in a power cut or an out-of-memory kill. The tests run `hub run`
in a subprocess with it and check that the next run converges to what an uninterrupted run leaves. `hook` runs a
function at a point instead, in this process (to edit a source row between write-back's plan and its push).
Unset, a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

KILL_AT = "HUB_TEST_KILL_AT"
POINTS = (
    "pull:before-commit",  # rows of a source staged, the workspace transaction not committed
    "publish:mid",  # golden records written inside the publish transaction, not committed
    "writeback:before-commit",  # journal recorded, the source transaction not committed
    "writeback:after-commit",  # the source committed a batch, its audit not written
    "writeback:before-read-back",  # audit written, the rows not read back into the workspace
    "writeback:before-push",  # planned, nothing sent to the source yet (hook: edit rows concurrently)
)
_hooks: dict[str, list[Callable[[], None]]] = {}


def point(name: str) -> None:
    """Reaching the named point: die here if HUB_TEST_KILL_AT names it, run the hooks set on it."""
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r} (known: {', '.join(POINTS)})")
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    for fn in _hooks.get(name, ()):
        fn()


@contextmanager
def hook(name: str, fn: Callable[[], None]) -> Iterator[None]:
    """Run `fn` each time the named point is reached, for the length of the block."""
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r} (known: {', '.join(POINTS)})")
    _hooks.setdefault(name, []).append(fn)
    try:
        yield
    finally:
        _hooks[name].remove(fn)
