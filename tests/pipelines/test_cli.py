"""The command line as a user meets it: every mistake ends in one line on stderr that names the fix,
with no traceback on the terminal; the full trace goes to the log file the line names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

from pipelines import cli
from pipelines.cli import _made, main
from tests.pipelines.bundle_factory import (
    CITY_BOUNDS,
    CITY_CRS,
    FORECAST_DATES,
    LEAD_DAYS,
    TIMEZONE,
    write_bundle,
)
from tests.pipelines.conftest import CONFIG


def _one_error_line(capfd) -> str:
    """What the command wrote on the terminal's stderr (file descriptor 2, Prefect's own log included),
    asserted to be one line without a traceback."""
    err = capfd.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _city(root: Path, bundle: Path) -> Path:
    """A config over `bundle` (the factory city's grid and time zone), its store under `root`."""
    raw = yaml.safe_load(CONFIG.format(assets="unused.csv"))
    raw |= {"source": {"kind": "bundle"}, "paths": {"bundle": str(bundle), "store": str(root / "store")},
            "flood": {**raw.get("flood", {}), "lead_days": LEAD_DAYS}, "heat": {**raw.get("heat", {}), "lead_days": LEAD_DAYS}}
    raw["city"]["timezone"] = TIMEZONE
    raw["grid"] = {"crs": CITY_CRS, "resolution_m": 30, "bounds": list(CITY_BOUNDS)}
    config = root / "city.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def _log_named_in(line: str) -> Path:
    found = re.search(r"full log: (\S+\.log)\)$", line)
    assert found, line
    return Path(found.group(1)).resolve()


@pytest.mark.parametrize("command", ["ingest", "forecast", "backtest"])
def test_every_date_option_says_its_format_in_its_help(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps help at the terminal's width
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    dated = re.findall(r"^  --(?:date|start|end) YYYY-MM-DD +(.*)$", help_text, flags=re.MULTILINE)
    assert dated and all(text.endswith("as YYYY-MM-DD") for text in dated), help_text


def test_a_date_in_another_format_is_one_line_naming_the_format(capfd):
    with pytest.raises(SystemExit) as exited:
        main(["forecast", "--date", "31/12/2024"])
    assert exited.value.code == 2
    line = _one_error_line(capfd)
    assert "'31/12/2024' is not a date: write YYYY-MM-DD" in line and "warisan forecast --help" in line


def test_a_missing_option_is_one_line_pointing_at_the_help(capfd):
    with pytest.raises(SystemExit):
        main(["backtest", "--start", "2024-01-01"])
    line = _one_error_line(capfd)
    assert "--end" in line and "warisan backtest --help" in line


def test_a_config_that_is_not_there_is_one_line_naming_it(tmp_path, capfd):
    assert main(["train", "--config", str(tmp_path / "nowhere.yaml")]) == 2
    assert str(tmp_path / "nowhere.yaml") in _one_error_line(capfd)


@pytest.mark.usefixtures("prefect_api")
def test_a_missing_bundle_says_to_ingest_or_make_demo_and_logs_the_trace(tmp_path, capfd):
    config = _city(tmp_path, tmp_path / "never-ingested")
    assert main(["forecast", "--config", str(config)]) == 2
    line = _one_error_line(capfd)
    assert "never-ingested does not exist" in line
    assert "warisan ingest --config" in line and "make demo" in line
    log = _log_named_in(line)
    assert log.parent == tmp_path / "store" / "port-test" / "logs"
    assert "Traceback" in log.read_text()


@pytest.mark.usefixtures("prefect_api")
def test_a_date_outside_the_data_gives_the_available_range(tmp_path, capfd):
    config = _city(tmp_path, write_bundle(tmp_path / "bundle"))
    assert main(["forecast", "--config", str(config), "--date", "2030-01-01"]) == 2
    line = _one_error_line(capfd)
    assert f"no forecast issued on 2030-01-01 (forecasts run {FORECAST_DATES[0]} to {FORECAST_DATES[-1]})" in line
    assert _log_named_in(line).exists()


def test_the_summary_names_a_lone_file_and_counts_the_others_in_words():
    written = {"netcdf": [Path("day/forecast.nc")], "cog": [Path(f"day/f_d{k}.tif") for k in range(3)],
               "cap": [], "weird": [Path("a"), Path("b")]}
    assert _made(written) == "forecast.nc, 3 GeoTIFFs, 2 weird"


@pytest.mark.parametrize("users", [None, "45"])
def test_the_temporary_server_gets_time_to_start_unless_the_user_says_otherwise(users, tmp_path, monkeypatch):
    if users is None:
        monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    else:
        monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", users)
    seen = []
    monkeypatch.setattr(cli, "_run", lambda *args: seen.append(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()) or 0)
    assert main(["forecast", "--config", str(_city(tmp_path, tmp_path / "bundle"))]) == 0
    default = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()  # outside main: Prefect's own
    assert seen == ([cli.TEMPORARY_SERVER_STARTUP_S] if users is None else [default])
    assert cli.TEMPORARY_SERVER_STARTUP_S > default
