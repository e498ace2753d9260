"""Screenshots of Prefect's UI for the README: the city's daily deployment and a forecast run's artifacts.

Usage: python benchmarks/prefect_ui_screenshot.py [CONFIG] [--out docs/img]   (CONFIG: configs/demo.yaml;
its models must exist, as after `make demo`)

Starts a Prefect server with its UI on 127.0.0.1 (a fresh database in a temporary folder), registers
the city's daily deployment as `warisan serve` does, runs daily_forecast once as a run of that
deployment (the demo publishes its last issue date again), then shoots the deployment's page (its
schedule, next run and the run) and the artifacts page (the run's five) with headless Chromium, in
the city's time zone: <out>/prefect-ui-deployment.png, prefect-ui-artifacts.png.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.config import load_city_config
from pipelines.flows.deploy import daily_deployment
from pipelines.flows.forecast import daily_forecast
from pipelines.prefect_server import api_url, start_server, stop_server, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WINDOW = "1440,1000"  # px
RENDER_BUDGET_MS = 60_000  # virtual time Chromium gives the UI to fetch and draw before the shot
SHOTS = 3  # shots of each page, the fullest kept
SERVER_START_S = 300  # a busy machine; on an idle one the server answers within 20 s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shoot(url: str, path: Path, timezone: str) -> Path:
    """A PNG of `url` as headless Chromium draws it in a WINDOW-sized window, its clock in `timezone`.

    The UI fills some panels after its first paint, so the page is shot SHOTS times and the fullest
    shot (the largest PNG) is kept."""
    tries = [path.with_suffix(f".try{k}.png") for k in range(SHOTS)]
    for shot in tries:
        subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WINDOW}", f"--virtual-time-budget={RENDER_BUDGET_MS}",
                        f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "TZ": timezone})
    max(tries, key=lambda shot: shot.stat().st_size).replace(path)
    for shot in tries:
        shot.unlink(missing_ok=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    port = _free_port()
    api = api_url(port)
    ui = api.removesuffix("/api")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prefect-ui-") as home:
        server = start_server(port, env={"PREFECT_HOME": home})
        try:
            wait_until_up(server, api, timeout_s=SERVER_START_S)
            with temporary_settings({PREFECT_API_URL: api}):
                deployment = daily_deployment(args.config)
                deployment_id = deployment.apply()
                with get_client(sync_client=True) as client:
                    flow_run = client.create_flow_run_from_deployment(deployment_id)
                run_flow(daily_forecast, flow_run=flow_run, parameters=deployment.parameters)
                APILogWorker.drain_all(timeout=10)
            args.out.mkdir(parents=True, exist_ok=True)
            zone = load_city_config(args.config).city.timezone  # the UI shows times in the browser's zone
            shots = [shoot(f"{ui}/deployments/deployment/{deployment_id}", args.out / "prefect-ui-deployment.png", zone),
                     shoot(f"{ui}/artifacts", args.out / "prefect-ui-artifacts.png", zone)]
        finally:
            stop_server(server)
    for shot in shots:
        print(shot)
    print(f"{time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
