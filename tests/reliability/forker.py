"""Fork `warisan forecast` runs from one process that has imported everything already.

A fresh interpreter spends most of a short run importing Prefect, xarray and LightGBM; kills
timed over that would test imports, not writes. Run as `python -m tests.reliability.forker`:
each line `CONFIG DATE` on stdin forks a child (its own session) running the forecast; the
forker prints `pid <pid>` at once and `exit <code>` when the child ends (-9 when SIGKILLed).
"""

import os
import sys

from pipelines import flows  # noqa: F401  (imported once, before forking)
from pipelines.cli import main


def serve() -> None:
    for line in sys.stdin:
        config, date = line.split()
        pid = os.fork()
        if pid == 0:  # the child: one forecast run, then leave without the parent's cleanup
            os.setsid()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os._exit(main(["forecast", "--config", config, "--date", date]))
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
