"""The CLI with the crash tests' hook installed: ``python tests/support/crashing_cli.py ARGS``.

With ``COMMERCE_SYNC_TEST_KILL_AFTER_WRITES=N`` in its environment the process kills itself
(SIGKILL) right after the engine's Nth acknowledged write of the process, before that batch is
committed: the exact point where a crash must neither lose nor duplicate anything. The hook is
installed here, by the test side; the product reads no such variable.
"""

from __future__ import annotations

import os
import signal
import sys

from runner.cli.main import main
from runner.engine import install_after_write

KILL_ENV = "COMMERCE_SYNC_TEST_KILL_AFTER_WRITES"


def install_from_env() -> None:
    nth = os.environ.get(KILL_ENV)
    if not nth:
        return
    limit = int(nth)

    def kill(count: int) -> None:
        if count >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

    install_after_write(kill)


if __name__ == "__main__":
    install_from_env()
    sys.exit(main(sys.argv[1:]))
