"""What a run tells people while it works: log lines (log file, terminal, Prefect UI), a status line
per step and progress bars.

The command line (pipelines.cli) writes every log record of a run, tracebacks included, to a log
file (`run_log`), and keeps the terminal to warnings, one status line per step (`step_status`: the
step's latest log message and, while LightGBM trains, its boosting round) and a closing summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from prefect.logging.handlers import APILogHandler, PrefectConsoleHandler
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")  # Prefect's loggers of flow and task runs
_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_STATUS_WIDTH = 90  # characters of a log message shown on the status line


def log(message: str) -> None:
    """Log to the current Prefect run (log file, status line and Prefect UI); outside a run, to the
    `pipelines` logger."""
    _to_run(logging.INFO, message)


def warn(message: str) -> None:
    """Log a warning a user should read: on the terminal too, and in the run's log and Prefect UI."""
    _to_run(logging.WARNING, message)


def _to_run(level: int, message: str) -> None:
    try:
        get_run_logger().log(level, message)
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


class _NoRunFailures(logging.Filter):
    """Drops what Prefect logs at ERROR about a failing flow or task run: the command's last line
    says what failed (or Python's traceback, for a bug), the log file keeps the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and record.name.startswith(RUN_LOGGERS))


def _handlers(kind: type[logging.Handler]) -> list[logging.Handler]:
    loggers = [logging.getLogger(), *map(logging.getLogger, RUN_LOGGERS)]
    return [h for logger in loggers for h in logger.handlers if isinstance(h, kind)]


@contextmanager
def without_tracebacks_for(errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """While the block runs, a failed flow or task run's log goes to Prefect's API (the UI) without
    its traceback when the error is one of `errors` (a user's bad input, whose message already
    names the file and field); the log file keeps it."""
    handlers, drop = _handlers(APILogHandler), _NoTracebackFor(errors)
    for handler in handlers:
        handler.addFilter(drop)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(drop)


@contextmanager
def quiet_terminal() -> Iterator[None]:
    """While the block runs, Prefect's terminal log keeps warnings and drops run failures (the
    command says them in one line); the log file keeps everything."""
    handlers, drop = _handlers(PrefectConsoleHandler), _NoRunFailures()
    levels = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(logging.WARNING)
        handler.addFilter(drop)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)
            handler.removeFilter(drop)


@contextmanager
def run_log(folder: Path, command: str) -> Iterator[Path]:
    """Write every log record (INFO and up, with tracebacks) to `folder`/warisan-<command>-<UTC time>.log
    while the block runs; yields the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"warisan-{command}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


class _StatusLine(logging.Handler):
    """The terminal's one live line for a step: its latest log message and LightGBM's round."""

    def __init__(self, progress: Progress, task_id: int):
        super().__init__(level=logging.INFO)
        self.progress, self.task_id = progress, task_id
        self.message, self.rounds, self.fits = "", "", 0

    def emit(self, record: logging.LogRecord) -> None:
        self.message, self.rounds = (record.getMessage().splitlines() or [""])[0][:_STATUS_WIDTH], ""
        self._show()

    def boosting_round(self, iteration: int, end_iteration: int) -> None:
        if iteration == 0:
            self.fits += 1
        self.rounds = f"LightGBM fit {self.fits}, round {iteration + 1}/{end_iteration}"
        self._show()

    def _show(self) -> None:
        self.progress.update(self.task_id, description=" · ".join(filter(None, [self.message, self.rounds])))


_ACTIVE: _StatusLine | None = None  # the step on the terminal now; one per process, shared by its threads


def show_boosting_round(env) -> None:
    """A LightGBM callback (lightgbm.callback.CallbackEnv in): the round on the step's status line, if any."""
    if _ACTIVE is not None:
        _ACTIVE.boosting_round(env.iteration - env.begin_iteration, env.end_iteration - env.begin_iteration)


@contextmanager
def step_status(name: str, console: Console) -> Iterator[Callable[[], float]]:
    """While the block runs, a live line on a terminal `console`: spinner, `name`, time, the step's
    latest log message and LightGBM round (nothing on a pipe or file); yields the step's elapsed s."""
    global _ACTIVE
    started = time.monotonic()
    columns = (SpinnerColumn(), TextColumn(f"[bold]{name:<9}"), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        status = _StatusLine(progress, progress.add_task("", total=None))
        loggers = [logging.getLogger(n) for n in (*RUN_LOGGERS, "pipelines")]
        for logger in loggers:
            logger.addHandler(status)
        _ACTIVE = status
        try:
            yield lambda: time.monotonic() - started
        finally:
            _ACTIVE = None
            for logger in loggers:
                logger.removeHandler(status)


@contextmanager
def progress_bar(total: int, name: str) -> Iterator[Callable[[str], None]]:
    """A progress bar of `total` steps on a terminal's stderr (nothing elsewhere); yields `step(text)`.

    Inside a command's step (`step_status`) the count goes on its status line instead: a terminal
    holds one live display at a time."""
    status = _ACTIVE
    if status is not None:
        done = iter(range(1, total + 1))
        yield lambda text: status.emit(logging.makeLogRecord({"msg": f"{name} {next(done)}/{total}: {text}"}))
        return
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        steps = bar.add_task(name, total=total)
        yield lambda text: bar.update(steps, advance=1, description=text)
