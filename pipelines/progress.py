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


@contextmanager
def progress_bar(total: int, name: str) -> Iterator[Callable[[str], None]]:
    """A progress bar of `total` steps on a terminal's stderr (nothing elsewhere); yields `step(text)`."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        steps = bar.add_task(name, total=total)
        yield lambda text: bar.update(steps, advance=1, description=text)
