"""A Prefect server with its UI on this machine (`warisan ui`), and finding it from other commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

UI_PORT = 4200  # Prefect's own default: `warisan ui` serves there, and every command looks there
_HEALTH_TIMEOUT_S = 0.5  # a local server answers at once; nothing there refuses at once


def api_url(port: int) -> str:
    """The API of a Prefect server on 127.0.0.1:`port` (its UI is the same address without /api)."""
    return f"http://127.0.0.1:{port}/api"


def answers(api: str) -> bool:
    """Whether a Prefect API answers its health check at `api`."""
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=_HEALTH_TIMEOUT_S) as answer:
            return answer.status == 200
    except OSError:
        return False


def start_server(port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `prefect server start` (API, UI, scheduler) on 127.0.0.1:`port` with `env` added to this
    process's environment, without analytics; the caller stops it."""
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
               "--analytics-off"]
    ui_api = {"PREFECT_UI_API_URL": api_url(port)}  # where the UI's pages fetch from (else port 4200's)
    return subprocess.Popen(command, env={**os.environ, **ui_api, **(env or {})})


def stop_server(server: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop a server start_server started: asked to end, then killed after `grace_s`."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_until_up(server: subprocess.Popen, api: str, timeout_s: float) -> None:
    """Return once the server answers at `api`; RuntimeError if it exits or is silent for `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not answers(api):
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {server.returncode} before answering at {api}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no Prefect server answered at {api} within {timeout_s:.0f} s")
        time.sleep(0.5)
