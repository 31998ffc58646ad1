"""A function run in a child process forked from the test process: a real process of its own (the crash tests kill
it with SIGKILL), which starts with what the test process has imported instead of importing Dagster, Splink and
GX again (seconds each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable


def forked(call: Callable[[], int], env: dict[str, str | None]) -> subprocess.CompletedProcess:
    """`call()` in a child process forked from this one, with `env` set (None: unset) and its output captured;
    its return value is the exit code; killed by a signal, the return code is minus its number (-9: SIGKILL)."""
    with tempfile.TemporaryFile() as out:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (flushed below; the process ends)
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                for name, value in env.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                code = call()
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        try:
            status = os.waitpid(pid, 0)[1]
        except BaseException:  # the test was interrupted (timeout, ^C): do not leave the run behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        out.seek(0)
        output = out.read().decode(errors="replace")
    return subprocess.CompletedProcess(["forked"], os.waitstatus_to_exitcode(status), output, "")
