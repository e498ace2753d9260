"""What a run tells people while it works: log lines (terminal and Prefect UI) and progress bars."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def log(message: str) -> None:
    """Log to the current Prefect run (shown on the command line and in the Prefect UI); outside a
    run, to the `pipelines` logger."""
    try:
        get_run_logger().info(message)
    except MissingContextError:
        logging.getLogger("pipelines").warning(message)


class _NoTracebackFor(logging.Filter):
    """Drops the traceback of a log record whose exception is one of `errors` (the message stays)."""

    def __init__(self, errors: tuple[type[BaseException], ...]):
        super().__init__()
        self.errors = errors

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.errors):
            record.exc_info, record.exc_text = None, None
        return True


def without_tracebacks_for(errors: tuple[type[BaseException], ...]) -> None:
    """Prefect logs a failed flow or task run with its traceback; for `errors` (a user's bad input,
    whose message already names the file and field) keep the one line and drop the traceback."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_NoTracebackFor(errors))


@contextmanager
def progress_bar(total: int, name: str) -> Iterator[Callable[[str], None]]:
    """A progress bar of `total` steps on a terminal's stderr (nothing elsewhere); yields `step(text)`."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        steps = bar.add_task(name, total=total)
        yield lambda text: bar.update(steps, advance=1, description=text)
