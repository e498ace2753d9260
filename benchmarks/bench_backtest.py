"""Time a short monthly backtest of the demo world and extrapolate to the 24-origin 2023-2024 one.

Usage: .venv/bin/python benchmarks/bench_backtest.py [--config configs/demo.yaml] [--start 2024-01-01]
           [--origins 3] [--workers 2] [--runner process|thread] [--omp-passive]

Run after `warisan demo` (features cached). Runs the `backtest` flow, as `warisan backtest` does,
each time in a fresh interpreter: over one monthly origin, then over `--origins`, on a pool of
each `--workers` count (the flow's own process pool, or `--runner thread`: threads in the flow's
process). The difference is what one more origin costs (retrain, hindcast, verify, and its share
of the scoring and the report); the rest is fixed (Prefect's temporary server, worker start-up,
loading, the rows to score). The estimate for the 24 origins of `make backtest` is fixed + 24 x
per origin (target: under 20 minutes on 2 cores).

Wall and CPU seconds (the flow's process and its children) are both printed with the load
average: on a machine shared with other work, wall time measures the others too. The flow's
worker processes run LightGBM with OMP_WAIT_POLICY=PASSIVE; `--omp-passive` sets it for the
flow's own process as well (a thread pool runs LightGBM there).
Appends a row per measurement to benchmarks/results/bench_backtest.csv with the git commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from results_csv import append_rows, git_commit

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "bench_backtest.csv"
FULL_ORIGINS = 24  # `make backtest`: monthly origins over 2023-01-01 .. 2024-12-31
TARGET_S = 20 * 60


def _months_later(start: dt.date, months: int) -> dt.date:
    """The day before the same day `months` months after `start`: the last issue date of that many origins."""
    year, month = divmod(start.month - 1 + months, 12)
    return dt.date(start.year + year, month + 1, start.day) - dt.timedelta(days=1)


def measure(config: Path, start: dt.date, end: dt.date, workers: int, runner: str) -> dict:
    """Run the backtest flow from `start` to `end` on a `runner` pool of `workers` (0: the flow's own task
    runner, as `warisan backtest` runs it); wall and CPU seconds."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    from pipelines.flows.backtest import backtest

    if workers:
        pool = {"process": ProcessPoolTaskRunner, "thread": ThreadPoolTaskRunner}[runner](max_workers=workers)
        backtest = backtest.with_options(task_runner=pool)
    began, cpu = time.perf_counter(), _cpu_s()
    written = backtest(config, start, end)
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"seconds": time.perf_counter() - began, "cpu_s": _cpu_s() - cpu, "origins": len(written["hindcasts"]),
            "peak_mib": peak / 1024}  # the flow's process or its largest worker, KiB on Linux


def _cpu_s() -> float:
    """User + system seconds of this process (all its threads) and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run(config: Path, start: dt.date, end: dt.date, workers: int, runner: str, omp_passive: bool) -> dict:
    """One measurement in a fresh interpreter, with the load average before and after it."""
    env = os.environ | {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if omp_passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--measure", str(config), start.isoformat(), end.isoformat(),
                           str(workers), runner], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load_before": load, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, default=DEMO)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1),
                        help="first origin (default 2024-01-01)")
    parser.add_argument("--origins", type=int, default=3, help="monthly origins of the longer run (default 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0],
                        help="pool sizes to time (default 0: the flow's own, pipelines.flows.backtest.WORKERS)")
    parser.add_argument("--runner", choices=["process", "thread"], default="process",
                        help="with --workers N: a process pool (the flow's kind) or threads in the flow's process")
    parser.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE in the flow's process")
    args = parser.parse_args()
    if args.measure:
        config, start, end, workers, runner = args.measure
        result = measure(Path(config), dt.date.fromisoformat(start), dt.date.fromisoformat(end), int(workers), runner)
        print(json.dumps(result))
        return
    if args.origins < 2:
        parser.error("--origins must be at least 2 (one origin is always timed to separate fixed costs)")

    now, commit, cpus = dt.datetime.now().isoformat(timespec="seconds"), git_commit(), os.cpu_count()
    print(f"Backtest benchmark, {args.config.name}, commit {commit}, {now}, {cpus} CPUs"
          + (", OMP_WAIT_POLICY=PASSIVE in the flow's process" if args.omp_passive else ""))
    rows = []
    for workers in args.workers:
        runs = {n: _run(args.config.resolve(), args.start, _months_later(args.start, n), workers, args.runner,
                        args.omp_passive) for n in (1, args.origins)}
        one, many = runs[1], runs[args.origins]
        extra = many["origins"] - one["origins"]
        pool = f"{workers} {args.runner}" if workers else "the flow's"
        for kind in ("seconds", "cpu_s"):
            per = (many[kind] - one[kind]) / extra
            fixed = one[kind] - per
            estimate = fixed + FULL_ORIGINS * per
            label = "wall" if kind == "seconds" else "cpu"
            print(f"  {pool} worker(s), {label:4}: 1 origin {one[kind]:7.1f} s, {many['origins']} origins "
                  f"{many[kind]:7.1f} s -> {per:6.1f} s per origin + {fixed:5.1f} s fixed; "
                  f"{FULL_ORIGINS} origins ~ {estimate / 60:5.1f} min"
                  + (f" (target < {TARGET_S / 60:.0f} min)" if kind == "seconds" else ""))
            rows.append({"date": now, "commit": commit, "measure": f"{label}, {pool} worker(s)",
                         "seconds_1_origin": round(one[kind], 1), "origins": many["origins"],
                         "seconds_n_origins": round(many[kind], 1), "seconds_per_origin": round(per, 1),
                         "fixed_seconds": round(fixed, 1), f"estimate_{FULL_ORIGINS}_origins_s": round(estimate),
                         "peak_mib": round(max(one["peak_mib"], many["peak_mib"])),
                         "omp_wait_policy": "PASSIVE" if args.omp_passive else "",
                         "load_1min": round((one["load_before"] + many["load_after"]) / 2, 2), "cpus": cpus})
        print(f"  {pool} worker(s): peak RSS {rows[-1]['peak_mib']:,} MiB; load {rows[-1]['load_1min']:.2f}")
    append_rows(RESULTS, list(rows[0]), rows)
    print(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
